"""The row recipe: how one registered model is trained in the comparison. Weeks 2 to 4 plug in here.

A model joins the report by being registered (`shared/registry.py`) with a recipe in its `info`:

    @register_model("transfer_lite0", framework="torch", trainer=fine_tune, learning_rate=1e-3, batch_size=32,
                    preprocessing=preprocessing_for("efficientnet_lite0", "torch", 64),
                    description="EfficientNet-Lite0, fine-tuned")

Keys:
- `trainer` (required for a row): `trainer(model, train, val, *, epochs, learning_rate, seed, device, progress)
  -> history` (the history format of AUTHORING.md). `train`/`val` are torch DataLoaders or tf.data Datasets
  built with this row's input spec and batch size. It must leave in `model` the weights to evaluate (the best
  validation epoch). A learner's row (--mine) uses the trainer its own module registers.
- `description`: one line shown in the report.
- `preprocessing`: a `shared.data.Preprocessing` the backbone owns (size, mean, std); it replaces the dataset's
  train statistics for this row, and sets the input shape the model is built for (shared.data.input_spec).
- `learning_rate` (or `lr`), `batch_size`: override the run's defaults.
Everything else (split, epochs, seed) is the same for every row; the report lists each row's overrides.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from shared.compare.config import CompareConfig


@dataclass
class Recipe:
    description: str = ""
    preprocessing: object | None = None     # shared.data.Preprocessing, or None: the dataset's own mean/std
    trainer: Callable | None = None
    learning_rate: float = 1e-3
    batch_size: int = 64
    overrides: tuple[str, ...] = ()         # which of the run's defaults this row changes (for the report)


def recipe_for(info: dict, config: CompareConfig) -> Recipe:
    """The recipe of a registry entry's `info`, with the run's defaults for everything it leaves out."""
    learning_rate = info.get("learning_rate", info.get("lr", config.learning_rate))
    recipe = Recipe(description=str(info.get("description", "")), preprocessing=info.get("preprocessing"),
                    trainer=info.get("trainer"), learning_rate=float(learning_rate),
                    batch_size=int(info.get("batch_size", config.batch_size)))
    changed = [f"learning_rate={recipe.learning_rate:g}"] if recipe.learning_rate != config.learning_rate else []
    changed += [f"batch_size={recipe.batch_size}"] if recipe.batch_size != config.batch_size else []
    changed += [f"preprocessing={describe_preprocessing(recipe.preprocessing)}"] if recipe.preprocessing else []
    recipe.overrides = tuple(changed)
    return recipe


def describe_preprocessing(preprocessing) -> str:
    size = getattr(preprocessing, "size", None)
    mean, std = getattr(preprocessing, "mean", None), getattr(preprocessing, "std", None)
    return f"resize {size}, mean {tuple(mean) if mean is not None else '-'}, std {tuple(std) if std is not None else '-'}"
