"""`workbook compare`: every registered model trained the same way, measured, and written up as a report.

- config.py: `CompareConfig`, the run's settings (the CLI overrides them); --quick values.
- recipe.py: the row recipe protocol (registry `info`: trainer, preprocessing, learning_rate, batch_size, ...).
- rows.py: which rows a run has; the learner's rows (--mine) and why one is skipped.
- row.py + torch_backend.py / keras_backend.py: train, evaluate, time and save one row.
- diagnose.py (week 3's diagnosis as a dict), figures.py, table.py, report.py, results.py (+ results.schema.json), checkpoint.py.
"""
from shared.compare.checkpoint import load_checkpoint
from shared.compare.config import CompareConfig
from shared.compare.diagnose import diagnose
from shared.compare.runner import run_compare

__all__ = ["CompareConfig", "diagnose", "load_checkpoint", "run_compare"]
