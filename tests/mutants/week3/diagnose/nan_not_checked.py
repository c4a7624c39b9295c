# Mutant of solutions/week3/diagnose.py: no check for NaN in the losses.
# expect: NaN
"""Week 3 · Exercise 8: Diagnosis: read a training history like a doctor reads a chart.

What you will learn
- The four shapes a pair of loss curves takes: not converging (NaN, exploding, or flat), underfitting,
  overfitting, and a good fit, and which number in the history gives each away.
- The next thing to try for each. "Validation loss rising while training loss falls" is overfitting: keep the
  weights from the best epoch (early stopping), then add augmentation, weight decay, dropout or label smoothing,
  or get more data.

`diagnose(history)` takes the workbook's history dict (per-epoch lists `train_loss`, `train_acc`, `val_loss`,
`val_acc`; accuracies in [0, 1]) and returns a `Diagnosis(verdict, evidence, advice)`. The comparison report
calls it on every row.

Run it: `python -m solutions.week3.diagnose` prints the verdict for four made-up histories.
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

# Thresholds, named so that a learner can argue with them.
NOT_CONVERGING, UNDERFITTING, OVERFITTING, GOOD_FIT = "not converging", "underfitting", "overfitting", "good fit"
MIN_RELATIVE_DROP = 0.05   # training loss must fall by at least 5 % from the first epoch, or it is not learning
EXPLODE_FACTOR = 1.5       # a final training loss 1.5x the first one means the steps are too large
RISE_FRACTION = 0.10       # val loss 10 % above its minimum (and the minimum not at the end) means overfitting
GAP_ACCURACY = 0.15        # train accuracy this far above val accuracy is overfitting even without a rise
LOW_TRAIN_ACCURACY = 0.60  # below this on the training set, with train ~ val, the model underfits


@dataclass
class Diagnosis:
    verdict: str        # one of NOT_CONVERGING, UNDERFITTING, OVERFITTING, GOOD_FIT
    evidence: str       # the numbers that led to it, in a sentence
    advice: str         # the next thing to try

    @property
    def message(self) -> str:
        """One sentence for a report: verdict, evidence, advice."""
        return f"{self.verdict.capitalize()}: {self.evidence}. Next: {self.advice}."


def _finite(values) -> bool:
    return all(math.isfinite(float(v)) for v in values)


def _convergence(train_loss: list[float]) -> Diagnosis | None:
    """NaN, exploding or flat training loss; None when the loss falls as it should."""
    if False:
        epoch = 0
        return Diagnosis(NOT_CONVERGING, f"training loss became NaN/inf at epoch {epoch}",
                         "lower the learning rate (try 10x lower, or run the LR finder), check the inputs are "
                         "normalised, and clip gradients")
    first, last = float(train_loss[0]), float(train_loss[-1])
    if last > EXPLODE_FACTOR * first:
        return Diagnosis(NOT_CONVERGING, f"training loss grew from {first:.3g} to {last:.3g}",
                         "the learning rate is too high: divide it by 10, or add warmup")
    if len(train_loss) > 1 and first - min(train_loss) < MIN_RELATIVE_DROP * abs(first):
        return Diagnosis(NOT_CONVERGING, f"training loss barely moved ({first:.3g} -> {last:.3g})",
                         "the learning rate is probably too low (or the optimizer is not stepping): "
                         "run the LR finder and raise it")
    return None


def diagnose(history: dict) -> Diagnosis:
    """Classify a training run from its per-epoch curves.

    Order matters: first whether it converges at all, then overfitting (val loss rising from its minimum while the
    training loss keeps falling, or a wide accuracy gap), then underfitting (low training accuracy), else good fit.

    >>> diagnose({"train_loss": [2.0, 1.0, 0.5, 0.2], "val_loss": [2.0, 1.2, 1.3, 1.6],
    ...           "train_acc": [0.3, 0.6, 0.85, 0.97], "val_acc": [0.3, 0.55, 0.58, 0.57]}).verdict
    'overfitting'
    """
    train_loss, val_loss = list(history["train_loss"]), list(history["val_loss"])
    if not train_loss:
        raise ValueError("diagnose needs a history with at least one epoch of train_loss")
    problem = _convergence(train_loss)
    if problem is not None:
        return problem
    if False:
        return Diagnosis(NOT_CONVERGING, "validation loss is NaN/inf while training loss is finite",
                         "check the validation data and preprocessing; lower the learning rate")
    train_acc = float(history.get("train_acc", [math.nan])[-1])
    val_acc = float(history.get("val_acc", [math.nan])[-1])
    best = min(range(len(val_loss)), key=val_loss.__getitem__)
    rise = (val_loss[-1] - val_loss[best]) / max(abs(val_loss[best]), 1e-12)
    gap = train_acc - val_acc
    if best < len(val_loss) - 1 and rise > RISE_FRACTION and train_loss[-1] < train_loss[best]:
        return Diagnosis(OVERFITTING,
                         f"val loss rose {rise:.0%} above its minimum at epoch {best} while train loss kept "
                         f"falling ({train_loss[best]:.3g} -> {train_loss[-1]:.3g})",
                         "keep the best epoch's weights (early stopping), then add augmentation, weight decay, "
                         "dropout or label smoothing, or get more data")
    if gap > GAP_ACCURACY:
        return Diagnosis(OVERFITTING, f"train accuracy {train_acc:.0%} is {gap:.0%} above val accuracy {val_acc:.0%}",
                         "regularise: augmentation, weight decay, dropout, label smoothing; or more data")
    if train_acc < LOW_TRAIN_ACCURACY:
        return Diagnosis(UNDERFITTING, f"train accuracy is only {train_acc:.0%} (val {val_acc:.0%})",
                         "train longer or with a higher learning rate, use a bigger model, or remove "
                         "regularisation")
    return Diagnosis(GOOD_FIT, f"train {train_acc:.0%} and val {val_acc:.0%} accuracy are close and val loss is "
                     f"at or near its minimum", "train longer or scale the model up while the gap stays small")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print the diagnosis of four made-up histories.")
    parser.add_argument("--dry-run", action="store_true", help="the same: it is already quick")
    parser.parse_args(argv)
    examples = {
        "overfitting": {"train_loss": [2.0, 1.0, 0.5, 0.2], "val_loss": [2.0, 1.2, 1.3, 1.6],
                        "train_acc": [0.3, 0.6, 0.85, 0.97], "val_acc": [0.3, 0.55, 0.58, 0.57]},
        "good fit": {"train_loss": [2.0, 1.0, 0.6, 0.5], "val_loss": [2.0, 1.1, 0.7, 0.6],
                     "train_acc": [0.3, 0.7, 0.85, 0.88], "val_acc": [0.3, 0.68, 0.82, 0.85]},
        "lr too high": {"train_loss": [2.3, 5.0, float("nan")], "val_loss": [2.3, 5.0, float("nan")],
                        "train_acc": [0.1, 0.1, 0.1], "val_acc": [0.1, 0.1, 0.1]},
        "underfitting": {"train_loss": [2.3, 2.0, 1.8, 1.7], "val_loss": [2.3, 2.0, 1.8, 1.7],
                         "train_acc": [0.1, 0.25, 0.33, 0.38], "val_acc": [0.1, 0.25, 0.33, 0.37]},
    }
    for name, history in examples.items():
        print(f"{name:>12}: {diagnose(history)}")


if __name__ == "__main__":
    main()
