# Mutant of solutions/week3/regularization.py: smoothing spread over the K - 1 wrong classes.
# expect: smoothing/K
"""Week 3 · Exercise 2: Regularisation: dropout, weight decay (AdamW is not L2) and label smoothing.

What you will learn
- Dropout: zero a random fraction of activations in training, none at evaluation (`model.eval()`).
- Weight decay two ways. Adam with an L2 term in the loss (what `torch.optim.Adam(weight_decay=...)` does) adds
  `wd * w` to the gradient, and Adam then *divides* that by the running gradient scale: weights with large
  gradients are barely decayed, and on its first step Adam moves every weight by about `lr` whatever its size.
  AdamW decouples it: `w <- w - lr * wd * w` after the Adam step, a shrink proportional to the weight, the same
  for every parameter (Loshchilov & Hutter, 2019). Decay weights, not biases or normalisation parameters.
- Label smoothing: train against (1 - eps) on the true class plus eps / K spread over all K classes, so the
  model is never pushed towards infinitely confident logits.
- An experiment: a deliberately overfitting setup (few images, a wide MLP, many epochs) where each of these
  narrows the gap between training and validation curves (`overfit_experiment`, drawn in the lesson).

Run it: `python -m solutions.week3.regularization --epochs 30` prints the final train/val gap of each variant.
"""
from __future__ import annotations

import argparse
import math

import torch
from torch import nn
from torch.nn import functional as F


def label_smoothing_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, smoothing: float = 0.1) -> torch.Tensor:
    """Mean cross-entropy against smoothed targets.

    logits (B, K) float, targets (B,) int64 class indices. The target distribution puts 1 - smoothing + smoothing/K
    on the true class and smoothing/K on every other class. With smoothing=0 this is `F.cross_entropy`.
    Write it with `log_softmax` (numerically stable), not with `softmax` then `log`.
    """
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    log_probs = F.log_softmax(logits.float(), dim=1)                     # (B, K)
    nll = -log_probs.gather(1, targets[:, None]).squeeze(1)             # (B,)
    uniform = -(log_probs.sum(dim=1) + nll) / (log_probs.shape[1] - 1)
    return ((1 - smoothing) * nll + smoothing * uniform).mean()


def make_optimizer(model: nn.Module, lr: float, weight_decay: float, decoupled: bool = True) -> torch.optim.Optimizer:
    """Adam with weight decay on the weights (parameters with ndim >= 2) and none on biases and norm parameters.

    decoupled=True: AdamW (decay applied to the weights directly). decoupled=False: Adam with `weight_decay`, which
    is an L2 penalty folded into the gradient. Hint: pass two parameter groups, one with weight_decay=0.
    """
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    optimizer_class = torch.optim.AdamW if decoupled else torch.optim.Adam
    return optimizer_class(groups, lr=lr)


class RegularizedNet(nn.Module):
    """A wide MLP with dropout after each hidden layer: easy to overfit, easy to regularise.

    Input (B, C, H, W) with input_shape = (H, W, C); output logits (B, num_classes).
    """

    def __init__(self, num_classes: int, input_shape: tuple[int, int, int], hidden: int = 512,
                 dropout_rate: float = 0.0):
        super().__init__()
        height, width, channels = input_shape
        self.layers = nn.Sequential(
            nn.Flatten(),                                         # (B, C*H*W)
            nn.Linear(channels * height * width, hidden), nn.ReLU(), nn.Dropout(dropout_rate),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout_rate),
            nn.Linear(hidden, num_classes),                       # (B, num_classes)
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(images)


# name -> (dropout_rate, weight_decay, label_smoothing, augment). "augment" is flip + crop from augmentation.py.
VARIANTS = {
    "baseline": (0.0, 0.0, 0.0, False),
    "dropout 0.5": (0.5, 0.0, 0.0, False),
    "AdamW wd 2": (0.0, 2.0, 0.0, False),
    "label smoothing 0.2": (0.0, 0.0, 0.2, False),
    "augmentation": (0.0, 0.0, 0.0, True),
}


def generalization_gap(history: dict) -> float:
    """Final val loss minus final train loss (cross-entropy): how far the curves have come apart."""
    return history["val_loss"][-1] - history["train_loss"][-1]


def overfit_experiment(ds, epochs: int = 30, train_size: int = 300, lr: float = 1e-3, seed: int = 0,
                       variants: dict | None = None, hidden: int = 512) -> dict[str, dict]:
    """Train one `RegularizedNet` per variant on the first `train_size` training images; return the histories.

    Every variant starts from the same seed. Validation loss is plain cross-entropy for all of them.
    """
    from .augmentation import make_loaders, random_crop_flip
    from .loop import fit

    histories = {}
    for name, (dropout_rate, weight_decay, smoothing, augment) in (variants or VARIANTS).items():
        torch.manual_seed(seed)
        train, val, _ = make_loaders(ds, batch_size=32, train_limit=train_size, seed=seed)
        model = RegularizedNet(ds.num_classes, ds.image_shape, hidden=hidden, dropout_rate=dropout_rate)
        optimizer = make_optimizer(model, lr, weight_decay, decoupled=True)
        loss_fn = lambda logits, labels, s=smoothing: label_smoothing_cross_entropy(logits, labels, s)  # noqa: E731
        histories[name] = fit(model, train, val, optimizer, epochs, loss_fn=loss_fn,
                              augment=random_crop_flip if augment else None)
    return histories


def plot_experiment(histories: dict[str, dict], axes=None):
    """Train (dashed) and validation (solid) loss per variant, one panel each."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, len(histories), figsize=(3.2 * len(histories), 3), sharey=True)
    for ax, (name, history) in zip(axes, histories.items()):
        ax.plot(history["train_loss"], "--", label="train")
        ax.plot(history["val_loss"], label="val")
        ax.set(title=f"{name}\ngap {generalization_gap(history):.2f}", xlabel="epoch")
    axes[0].set_ylabel("cross-entropy")
    axes[0].legend()
    return axes


def main(argv: list[str] | None = None) -> None:
    from shared.data import load_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--dry-run", action="store_true", help="two epochs, two variants")
    args = parser.parse_args(argv)
    ds = load_dataset("shapes", size=1500, image_size=16, seed=0)
    variants = dict(list(VARIANTS.items())[:2]) if args.dry_run else None
    histories = overfit_experiment(ds, epochs=2 if args.dry_run else args.epochs, variants=variants)
    for name, history in histories.items():
        print(f"{name:>22}: train {history['train_loss'][-1]:.3f}  val {history['val_loss'][-1]:.3f}  "
              f"gap {generalization_gap(history):.3f}  val_acc {history['val_acc'][-1]:.3f}")


if __name__ == "__main__":
    main()
