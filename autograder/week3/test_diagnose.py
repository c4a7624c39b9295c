"""Week 3 · diagnose.py: telling overfitting, underfitting, a good fit and a run that does not converge apart."""
from __future__ import annotations

import dataclasses

import pytest

from shared.grading.checks import expect_true, fail
from shared.grading.target import exercise

diagnose = exercise("week3", "diagnose")

OVERFIT = {"train_loss": [2.0, 1.2, 0.7, 0.4, 0.2, 0.1], "val_loss": [2.0, 1.3, 1.1, 1.2, 1.4, 1.7],
           "train_acc": [0.3, 0.6, 0.78, 0.88, 0.95, 0.99], "val_acc": [0.3, 0.55, 0.62, 0.63, 0.62, 0.61]}
GOOD = {"train_loss": [2.0, 1.0, 0.6, 0.5, 0.45], "val_loss": [2.0, 1.1, 0.7, 0.6, 0.58],
        "train_acc": [0.3, 0.7, 0.85, 0.88, 0.9], "val_acc": [0.3, 0.68, 0.82, 0.85, 0.86]}
UNDERFIT = {"train_loss": [2.3, 2.0, 1.85, 1.75, 1.7], "val_loss": [2.3, 2.0, 1.86, 1.76, 1.72],
            "train_acc": [0.1, 0.24, 0.31, 0.36, 0.38], "val_acc": [0.1, 0.24, 0.31, 0.35, 0.37]}
NAN = {"train_loss": [2.3, 7.5, float("nan"), float("nan")], "val_loss": [2.3, 8.0, float("nan"), float("nan")],
       "train_acc": [0.1, 0.1, 0.1, 0.1], "val_acc": [0.1, 0.1, 0.1, 0.1]}
NAN_LATE = {"train_loss": [2.3, 1.4, 0.9, float("nan"), float("nan")],
            "val_loss": [2.3, 1.5, 1.0, float("nan"), float("nan")],
            "train_acc": [0.1, 0.5, 0.7, 0.1, 0.1], "val_acc": [0.1, 0.5, 0.68, 0.1, 0.1]}
EXPLODING = {"train_loss": [2.3, 3.5, 6.0, 9.0], "val_loss": [2.3, 3.6, 6.5, 9.5],
             "train_acc": [0.1, 0.1, 0.1, 0.1], "val_acc": [0.1, 0.1, 0.1, 0.1]}
FLAT = {"train_loss": [2.3026, 2.3025, 2.3025, 2.3024, 2.3024], "val_loss": [2.3026, 2.3026, 2.3025, 2.3025, 2.3025],
        "train_acc": [0.1, 0.1, 0.1, 0.11, 0.1], "val_acc": [0.1, 0.1, 0.1, 0.1, 0.1]}


def _verdict(history) -> str:
    result = diagnose.diagnose(history)
    verdict = getattr(result, "verdict", None)
    if not isinstance(verdict, str):
        fail(f"diagnose should return a dataclass with a string `verdict`, got {result!r}")
    return verdict.lower()


@pytest.mark.points(2)
def test_overfitting_is_not_a_good_fit():
    verdict = _verdict(OVERFIT)
    expect_true(verdict == "overfitting",
                f"validation loss rises from 1.1 to 1.7 while training loss falls to 0.1, and train accuracy is 38 "
                f"points above val: that is 'overfitting', got {verdict!r}. Compare val loss with its own minimum, "
                f"not only the last two epochs.")


@pytest.mark.points(1)
def test_good_fit_and_underfitting():
    good, under = _verdict(GOOD), _verdict(UNDERFIT)
    expect_true(good == "good fit", f"train/val accuracy 90%/86% with val loss at its minimum is a 'good fit', got {good!r}")
    expect_true(under == "underfitting",
                f"train accuracy 38% with val close behind is 'underfitting' (the model has not learned the task), "
                f"got {under!r}")


@pytest.mark.points(2)
@pytest.mark.parametrize("name, history", [("NaN", NAN), ("late NaN", NAN_LATE), ("exploding", EXPLODING),
                                           ("flat", FLAT)])
def test_not_converging(name, history):
    verdict = _verdict(history)
    expect_true(verdict == "not converging",
                f"a {name} training loss {history['train_loss']} is 'not converging' (LR too high, or too low for a "
                f"flat loss), got {verdict!r}. Check for NaN first: every comparison with NaN is False.")


# Val loss still falling in both: only the accuracy gap (train - val) tells them apart.
WIDE_GAP = {"train_loss": [2.0, 1.0, 0.5, 0.2, 0.1], "val_loss": [2.0, 1.5, 1.3, 1.2, 1.15],
            "train_acc": [0.3, 0.7, 0.88, 0.95, 0.98], "val_acc": [0.3, 0.55, 0.62, 0.66, 0.68]}
REGULARISED = {"train_loss": [2.0, 1.4, 1.1, 0.95, 0.9], "val_loss": [2.0, 1.2, 0.8, 0.6, 0.5],
               "train_acc": [0.3, 0.55, 0.66, 0.7, 0.72], "val_acc": [0.3, 0.7, 0.82, 0.88, 0.9]}


@pytest.mark.points(1)
def test_the_accuracy_gap_is_train_minus_val():
    wide, regularised = _verdict(WIDE_GAP), _verdict(REGULARISED)
    if wide != "overfitting" and regularised == "overfitting":
        fail(f"train accuracy 98% vs val 68% came out {wide!r}, and train 72% vs val 90% (heavy augmentation: val "
             f"above train) came out 'overfitting': the gap has the wrong sign. Overfitting is train accuracy far "
             f"ABOVE val: gap = train_acc - val_acc.")
    expect_true(wide == "overfitting", f"train accuracy 98% with val at 68% (a 30-point gap, val loss still falling) "
                                       f"is 'overfitting', got {wide!r}")
    expect_true(regularised == "good fit", f"train accuracy 72% below val 90% (augmentation makes training harder), "
                                           f"both rising, is a 'good fit', got {regularised!r}")


@pytest.mark.points(1)
def test_diagnosis_carries_evidence_and_advice():
    result = diagnose.diagnose(OVERFIT)
    expect_true(dataclasses.is_dataclass(result), f"diagnose should return a dataclass, got {type(result).__name__}")
    for field in ("evidence", "advice"):
        value = getattr(result, field, None)
        expect_true(isinstance(value, str) and len(value) > 10,
                    f"the diagnosis needs a `{field}` sentence (the numbers / the next thing to try), got {value!r}")
