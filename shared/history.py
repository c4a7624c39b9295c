"""One training-history format for both frameworks (see AUTHORING.md, "History format").

A history is a dict of per-epoch lists, plus the index of the best epoch:

    {"train_loss": [...], "train_acc": [...], "val_loss": [...], "val_acc": [...],
     "epoch_time_s": [...], "lr": [...], "best_epoch": 3}

`best_epoch` is the 0-based index of the highest `val_acc` (the first one on ties), which is also the epoch
whose weights a trainer keeps. PyTorch's `fit` (solutions/week2/training.py) builds this dict directly;
`from_keras` converts what `keras.Model.fit` returns.
"""
from __future__ import annotations

from typing import Any, Sequence

EPOCH_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "epoch_time_s")
OPTIONAL_KEYS = ("lr",)

# Keras names its accuracy after the metric object: "accuracy", "acc", "sparse_categorical_accuracy", ...
_KERAS_ACCURACY_NAMES = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy")


def empty_history() -> dict[str, Any]:
    return {**{key: [] for key in EPOCH_KEYS}, "lr": [], "best_epoch": None}


def best_epoch(val_acc: Sequence[float]) -> int | None:
    """Index of the highest validation accuracy, the first one on ties; None for an empty list."""
    if len(val_acc) == 0:
        return None
    return max(range(len(val_acc)), key=lambda i: (val_acc[i], -i))


def _keras_accuracy(logs: dict[str, list], prefix: str) -> list[float]:
    for name in _KERAS_ACCURACY_NAMES:
        if prefix + name in logs:
            return [float(v) for v in logs[prefix + name]]
    raise ValueError(
        f"the Keras history has no {prefix or 'training '}accuracy (looked for "
        f"{', '.join(prefix + n for n in _KERAS_ACCURACY_NAMES)}; found {', '.join(sorted(logs))}). "
        f"Compile the model with metrics=['accuracy'] and fit it with validation_data=..."
    )


def from_keras(history, epoch_times: Sequence[float] | None = None,
               learning_rates: Sequence[float] | None = None) -> dict[str, Any]:
    """Convert a Keras `History` (or its `.history` dict) into the shared format.

    history: what `model.fit(..., validation_data=...)` returns: per-epoch `loss`, an accuracy (`accuracy`,
        `sparse_categorical_accuracy`, ...) and the same with a `val_` prefix.
    epoch_times: seconds per epoch, e.g. recorded by a callback; NaN when not given.
    learning_rates: the learning rate of each epoch; taken from the logs' `learning_rate` when Keras logged it.
    """
    logs = history.history if hasattr(history, "history") else dict(history)
    if "loss" not in logs or "val_loss" not in logs:
        raise ValueError(f"the Keras history needs 'loss' and 'val_loss' (found {', '.join(sorted(logs))}); "
                         f"was fit called with validation_data=...?")
    epochs = len(logs["loss"])
    times = list(epoch_times) if epoch_times is not None else [float("nan")] * epochs
    if len(times) != epochs:
        raise ValueError(f"got {len(times)} epoch times for a history of {epochs} epochs")
    result = {
        "train_loss": [float(v) for v in logs["loss"]],
        "train_acc": _keras_accuracy(logs, ""),
        "val_loss": [float(v) for v in logs["val_loss"]],
        "val_acc": _keras_accuracy(logs, "val_"),
        "epoch_time_s": [float(t) for t in times],
    }
    if learning_rates is None and "learning_rate" in logs:
        learning_rates = logs["learning_rate"]
    if learning_rates is not None:
        result["lr"] = [float(v) for v in learning_rates]
    result["best_epoch"] = best_epoch(result["val_acc"])
    return result


def validate(history: dict[str, Any]) -> None:
    """Raise ValueError with a sentence if `history` is not in the shared format."""
    missing = [key for key in (*EPOCH_KEYS, "best_epoch") if key not in history]
    if missing:
        raise ValueError(f"the history lacks {', '.join(missing)}; expected keys {', '.join(EPOCH_KEYS)}, best_epoch")
    lengths = {key: len(history[key]) for key in EPOCH_KEYS + OPTIONAL_KEYS if key in history}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"the per-epoch lists differ in length: {lengths}")
    if history["best_epoch"] != best_epoch(history["val_acc"]):
        raise ValueError(f"best_epoch is {history['best_epoch']}, but the highest val_acc is at index "
                         f"{best_epoch(history['val_acc'])}")
