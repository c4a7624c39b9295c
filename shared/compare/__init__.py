"""`workbook compare`: every registered model trained the same way, measured, and written up as a report.

- config.py: `CompareConfig`, the run's settings (the CLI overrides them); --quick values.
- recipe.py: the row recipe protocol (registry `info`: trainer, preprocessing, learning_rate, batch_size, ...).
- plan.py: which rows a run has; the learner's rows (--mine) and why one is skipped.
- measure.py + torch_backend.py / keras_backend.py: train, evaluate, time and save one row.
- runner.py: the whole run; figures.py, table.py, report.py, results.py (+ results.schema.json): what it writes.
- row_report.py: a row's own material from its first seed's model: interpretation.py (top losses with Grad-CAM,
  confused pairs, a sentence to act on), layers.py (layer table and diagram), TensorBoard scalars per seed.
Checkpoints are written and read by shared/checkpoints.py; week 3's diagnosis comes through shared/reference.py.
"""
from shared.compare.config import CompareConfig
from shared.compare.runner import run_compare

__all__ = ["CompareConfig", "run_compare"]
