"""The one door from shared/ into the reference solutions: nothing else under shared/ imports solutions/.

What the workbook's own tools take from the reference, and nothing more:
- its models: `load_models()` imports the modules that register them (solutions/models.py lists them, as
  timm's models/__init__.py does), plus shared/'s own pretrained backbones;
- week 3's diagnosis of a training history, which the comparison report quotes for every row;
- week 4's data-efficiency pieces (subsets, the transfer points, the plot), which `workbook compare
  --data-efficiency` puts together with the CNN row's own recipe;
- week 2's optimizers of both twins, which `workbook parity` trains with.
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


def sample_per_class(split, per_class, seed: int):
    """Week 4's nested, class-balanced subset of a split (`per_class=None`: the split itself)."""
    from solutions.week4.data_efficiency import sample_per_class as week4_sample

    return week4_sample(split, per_class, seed)


def transfer_accuracy(train, dataset, seed: int) -> float:
    """Week 4's transfer point of the data-efficiency experiment: a linear head on frozen Lite0 features."""
    from solutions.week4.data_efficiency import ExperimentConfig, transfer_accuracy as week4_transfer

    return week4_transfer(train, dataset, ExperimentConfig(seed=seed))


def transfer_image_size() -> int:
    from solutions.week4.data_efficiency import ExperimentConfig

    return ExperimentConfig.image_size


def plot_data_efficiency(results: dict, path):
    from solutions.week4.data_efficiency import plot_data_efficiency as week4_plot

    return week4_plot(results, path)


def twin_optimizers(torch_model, total_steps: int):
    """Week 2's recipe for both twins, for `workbook parity`: (the PyTorch optimizer of `torch_model`, with its
    schedule; the Keras optimizer), at the recipe's learning rate, scheduled over `total_steps` steps."""
    from solutions.week2.keras_cnn import keras_optimizer
    from solutions.week2.recipe import RECIPE
    from solutions.week2.training import make_optimizer

    return (make_optimizer(torch_model, RECIPE.learning_rate, total_steps),
            keras_optimizer(RECIPE.learning_rate, total_steps))


def week2_recipe():
    """Week 2's `Recipe` (solutions/week2/recipe.py): epochs, batch size, learning rate and schedule of its rows."""
    from solutions.week2.recipe import RECIPE

    return RECIPE


def exercise_module(week: str, name: str):
    """The reference module of an exercise (`solutions.<week>.<name>`). While one exercise is graded, the
    autograder imports the others from here, so that each exercise is graded on its own code alone."""
    import importlib

    return importlib.import_module(f"solutions.{week}.{name}")
