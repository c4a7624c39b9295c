"""The row recipe: how one registered model is trained in the comparison. Weeks 3 and 4 plug in here.

A model joins the report by being registered (`shared/registry.py`); its `info` may carry a recipe:

    @register_model("transfer", framework="torch", description="EfficientNet-Lite0, fine-tuned",
                    preprocessing=Preprocessing(size=224, mean=(0.5,) * 3, std=(0.5,) * 3),
                    trainer=fit_transfer, learning_rate=1e-4, batch_size=32)

Keys (all optional):
- `description`: one line shown in the report.
- `preprocessing`: a `shared.data.Preprocessing` the backbone owns (size, mean, std); it replaces the dataset's
  train statistics for this row, and sets the input shape the model is built for.
- `trainer`: `trainer(model, train, val, *, epochs, learning_rate, seed, device) -> history` (the history format
  of AUTHORING.md). `train`/`val` are torch DataLoaders or tf.data Datasets, built with this row's
  preprocessing and batch size. It must leave in `model` the weights to evaluate (the best validation epoch).
  Without one, the reference rows use week 2's `fit`/`fit_keras` with Adam, the learner's rows their own.
- `learning_rate` (or `lr`), `batch_size`, `optimizer` ("adam", "adamw" or "sgd"): override the run's defaults.
Everything else (split, epochs, seed) is the same for every row; the report lists each row's overrides.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from shared.compare.config import CompareConfig

OPTIMIZERS = ("adam", "adamw", "sgd")


@dataclass
class Recipe:
    description: str = ""
    preprocessing: object | None = None     # shared.data.Preprocessing, or None: the dataset's own mean/std
    trainer: Callable | None = None         # None: the default trainer of the row's framework and impl
    learning_rate: float = 1e-3
    batch_size: int = 64
    optimizer: str = "adam"
    overrides: tuple[str, ...] = ()         # which of the run's defaults this row changes (for the report)


def recipe_for(info: dict, config: CompareConfig) -> Recipe:
    """The recipe of a registry entry's `info`, with the run's defaults for everything it leaves out."""
    learning_rate = info.get("learning_rate", info.get("lr", config.learning_rate))
    optimizer = info.get("optimizer", "adam")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"recipe optimizer {optimizer!r} is not supported; use one of {', '.join(OPTIMIZERS)}.")
    recipe = Recipe(description=str(info.get("description", "")), preprocessing=info.get("preprocessing"),
                    trainer=info.get("trainer"), learning_rate=float(learning_rate),
                    batch_size=int(info.get("batch_size", config.batch_size)), optimizer=optimizer)
    changed = [f"learning_rate={recipe.learning_rate:g}"] if recipe.learning_rate != config.learning_rate else []
    changed += [f"batch_size={recipe.batch_size}"] if recipe.batch_size != config.batch_size else []
    changed += [f"optimizer={optimizer}"] if optimizer != "adam" else []
    changed += [f"trainer={getattr(recipe.trainer, '__name__', 'custom')}"] if recipe.trainer else []
    changed += [f"preprocessing={describe_preprocessing(recipe.preprocessing)}"] if recipe.preprocessing else []
    recipe.overrides = tuple(changed)
    return recipe


def describe_preprocessing(preprocessing) -> str:
    size = getattr(preprocessing, "size", None)
    mean, std = getattr(preprocessing, "mean", None), getattr(preprocessing, "std", None)
    return f"resize {size}, mean {tuple(mean) if mean is not None else '-'}, std {tuple(std) if std is not None else '-'}"
