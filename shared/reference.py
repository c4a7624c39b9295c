"""The one door from shared/ into the reference solutions: nothing else under shared/ imports solutions/.

What the workbook's own tools take from the reference, and nothing more:
- its models: `load_models()` imports the modules that register them (solutions/models.py lists them, as
  timm's models/__init__.py does), plus shared/'s own pretrained backbones;
- week 3's diagnosis of a training history, which the comparison report quotes for every row;
- week 4's data-efficiency experiment, which `workbook compare --data-efficiency` runs.
"""
from __future__ import annotations


def load_models() -> None:
    """Register every reference model (idempotent: Python imports each module once)."""
    from shared.backbones import keras_backbones, torch_backbones  # noqa: F401 — they register as imported
    import solutions.models  # noqa: F401 — likewise


def diagnose(history: dict):
    """Week 3's `diagnose(history)`: a Diagnosis with verdict, evidence, advice and message."""
    from solutions.week3.diagnose import diagnose as week3_diagnose

    return week3_diagnose(history)


def data_efficiency(dataset, per_class_counts, *, cnn_epochs: int, seed: int) -> dict:
    """Week 4's experiment: test accuracy of the CNN from scratch and of transfer, per training-set size."""
    from solutions.week4.data_efficiency import ExperimentConfig, run_experiment

    return run_experiment(dataset, per_class_counts, ExperimentConfig(cnn_epochs=cnn_epochs, seed=seed))


def plot_data_efficiency(results: dict, path):
    from solutions.week4.data_efficiency import plot_data_efficiency as week4_plot

    return week4_plot(results, path)


def exercise_module(week: str, name: str):
    """The reference module of an exercise (`solutions.<week>.<name>`). While one exercise is graded, the
    autograder imports the others from here, so that each exercise is graded on its own code alone."""
    import importlib

    return importlib.import_module(f"solutions.{week}.{name}")
