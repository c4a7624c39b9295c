"""A short, plain-words diagnosis of a training history: overfitting, underfitting, still improving or a good fit.

Week 3 teaches this properly (`solutions.week3.diagnose.diagnose`); the report uses that one when it exists and
falls back to the simple rules here. Both return a dict with `verdict`, `message` and `gap`.
"""
from __future__ import annotations

import importlib

OVERFIT_GAP = 0.10        # train accuracy this far above validation: the model memorises the training set
UNDERFIT_TRAIN_ACC = 0.70  # below this on its own training data, the model has not learned the task yet
RISING_VAL_LOSS = 1.10     # final val loss 10% above its minimum while train loss kept falling: overfitting
IMPROVING_DELTA = 0.01     # val accuracy still rose this much over the last epoch: more epochs would help


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def simple_diagnose(history: dict) -> dict:
    """Rules of thumb on the last epoch: gap = train accuracy − validation accuracy."""
    train_acc, val_acc = history["train_acc"][-1], history["val_acc"][-1]
    gap = train_acc - val_acc
    val_loss, train_loss = history["val_loss"], history["train_loss"]
    loss_rising = val_loss[-1] > RISING_VAL_LOSS * min(val_loss) and train_loss[-1] <= min(train_loss) + 1e-9
    numbers = f"train {_percent(train_acc)} vs validation {_percent(val_acc)} (gap {100 * gap:+.0f} points)"
    best = history.get("best_epoch", max(range(len(val_loss)), key=lambda i: history["val_acc"][i]))
    if gap > OVERFIT_GAP or (loss_rising and len(val_loss) > 2):
        return {"verdict": "overfitting", "gap": gap, "message": (
            f"Overfitting: {numbers}. The model memorises the training images instead of learning what generalises. "
            f"Use the checkpoint from epoch {best + 1}, or add augmentation, dropout or weight decay, or more data.")}
    if train_acc < UNDERFIT_TRAIN_ACC:
        return {"verdict": "underfitting", "gap": gap, "message": (
            f"Underfitting: {numbers}. It does not even fit its training data: train longer, give the model more "
            f"capacity, or check the learning rate.")}
    val_acc_curve = history["val_acc"]
    if len(val_acc_curve) > 1 and val_acc_curve[-1] - val_acc_curve[-2] > IMPROVING_DELTA:
        return {"verdict": "still improving", "gap": gap, "message": (
            f"Still improving: {numbers}, and validation accuracy rose in the last epoch: more epochs would likely help.")}
    return {"verdict": "good fit", "gap": gap, "message": f"Good fit: {numbers}; train and validation agree."}


def _normalise(result, history: dict) -> dict:
    """Accept what week 3's diagnose returns (a dict, an object with attributes, or a sentence)."""
    fallback = simple_diagnose(history)
    if isinstance(result, str):
        return {**fallback, "message": result}
    def get(key, default):
        value = result.get(key, default) if isinstance(result, dict) else getattr(result, key, default)
        return value() if callable(value) else value

    return {"verdict": str(get("verdict", fallback["verdict"])),
            "gap": float(get("gap", fallback["gap"])),
            "message": str(get("message", fallback["message"]))}


def diagnose(history: dict) -> dict:
    """Week 3's diagnosis if it is importable, else `simple_diagnose`."""
    try:
        week3 = importlib.import_module("solutions.week3.diagnose")
    except ImportError:
        return simple_diagnose(history)
    return _normalise(week3.diagnose(history), history)
