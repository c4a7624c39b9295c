# Mutant of solutions/week4/feature_extraction.py: set_batchnorm_eval leaves BatchNorm in training mode.
# expect: train mode
"""Week 4 · Exercise 2: Feature extraction — freeze the backbone, train only the new head.

What you will learn
- Freezing is two separate switches in PyTorch. `requires_grad=False` stops the optimizer from changing a
  parameter. It does NOT stop BatchNorm from updating its running mean and variance: those are buffers,
  updated by every forward pass in train mode. A "frozen" backbone in train mode still drifts.
- So frozen BatchNorm layers must run in eval mode, and `model.train()` (which week 2's `fit` calls every
  epoch) switches them all back. `KeepBatchNormFrozen` wraps a model so that `train()` leaves them in eval.
- Only the trainable parameters go to the optimizer, and a frozen backbone makes training cheap: the features
  of an image never change, so they can be computed once (`extract_features`) and a linear head trained on them.
- Count what you train: Lite0 has 3.4 M parameters; its 10-class head has 12,810 of them (0.4 %).

Run it: `python -m solutions.week4.feature_extraction --epochs 1 --dry-run`
"""
from __future__ import annotations

import argparse
import copy

import torch
from torch import nn

from solutions.week2.training import fit

from .heads import find_head

HEAD_LEARNING_RATE = 1e-3  # Adam; the head starts from random weights, so the usual learning rate fits


def freeze_backbone(model: nn.Module) -> nn.Module:
    """Freeze every parameter except the head's (the last nn.Linear, see `find_head`); return `model`.

    After this, exactly the head's weight and bias have `requires_grad=True`. Also put every BatchNorm layer
    in eval mode (`set_batchnorm_eval`), so that a forward pass no longer changes their running statistics.
    """
    model.requires_grad_(False)
    find_head(model)[1].requires_grad_(True)
    return set_batchnorm_eval(model)


def set_batchnorm_eval(model: nn.Module) -> nn.Module:
    """Put every BatchNorm layer of `model` (any nn.modules.batchnorm._BatchNorm: 1d, 2d, timm's
    BatchNormAct2d...) in eval mode and freeze its weight and bias; leave every other module's mode as it is.

    In eval mode BatchNorm normalises with its stored running statistics and never updates them. This week
    keeps BatchNorm frozen in both stages: the small batches of a small dataset give noisy batch statistics,
    and re-estimating them would shift the very features we are reusing. Returns `model`.
    """
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.requires_grad_(False)
    return model


class KeepBatchNormFrozen(nn.Module):
    """Wraps a model so that `.train()` leaves its BatchNorm layers in eval mode (week 2's `fit` calls
    `model.train()` at the start of every epoch, which would otherwise switch them back)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def train(self, mode: bool = True) -> "KeepBatchNormFrozen":
        super().train(mode)
        if mode:
            set_batchnorm_eval(self.model)
        return self


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters the optimizer should get: those with requires_grad (frozen ones would only cost time)."""
    return [parameter for parameter in model.parameters() if parameter.requires_grad]


def count_trainable(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) number of parameter values, e.g. (12810, 3384138) for Lite0 with a frozen backbone."""
    total = sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in model.parameters() if p.requires_grad), total


def train_head(model: nn.Module, train_loader, val_loader, *, epochs: int,
               learning_rate: float = HEAD_LEARNING_RATE, device=None, seed: int | None = None,
               progress: bool = True) -> dict:
    """Feature extraction: freeze the backbone, train the head with Adam; returns week 2's history format.

    The model ends with the weights of the best validation epoch and its BatchNorm layers frozen.
    """
    freeze_backbone(model)
    optimizer = torch.optim.Adam(trainable_parameters(model), lr=learning_rate)
    return fit(KeepBatchNormFrozen(model), train_loader, val_loader, epochs=epochs, optimizer=optimizer,
               device=device, seed=seed, progress=progress)


@torch.no_grad()
def extract_features(model: nn.Module, loader, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The backbone's features of every image of `loader`, in order: (features (N, F), labels (N,)) on the CPU.

    F is the head's `in_features` (1280 for Lite0). Work on a copy of `model` whose head is nn.Identity, in
    eval mode, so that `model` itself is left unchanged (same head, same mode, same BatchNorm statistics).
    """
    backbone = copy.deepcopy(model).to(device).eval()
    backbone.set_submodule(find_head(backbone)[0], nn.Identity())
    features, labels = [], []
    for images, targets in loader:
        features.append(backbone(images.to(device)).cpu())  # (B, F)
        labels.append(targets.cpu())
    return torch.cat(features), torch.cat(labels)


def fit_linear_head(features: torch.Tensor, labels: torch.Tensor, num_classes: int, *, steps: int = 200,
                    learning_rate: float = 1e-2, weight_decay: float = 1e-4, seed: int = 0) -> nn.Linear:
    """A linear classifier trained on cached features (full batch, Adam): seconds instead of minutes."""
    torch.manual_seed(seed)
    head = nn.Linear(features.shape[1], num_classes)
    optimizer = torch.optim.Adam(head.parameters(), lr=learning_rate, weight_decay=weight_decay)
    for _ in range(steps):
        optimizer.zero_grad()
        nn.functional.cross_entropy(head(features), labels).backward()
        optimizer.step()
    return head


def main(argv: list[str] | None = None) -> None:
    from shared.data import load_dataset
    from shared.data.torch_data import make_loader

    from .heads import build_transfer_model

    parser = argparse.ArgumentParser(description="Train the head of a frozen pretrained backbone.")
    parser.add_argument("--dataset", default="shapes")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--dry-run", action="store_true", help="a few hundred images, to check that it runs")
    args = parser.parse_args(argv)
    ds = load_dataset(args.dataset, **({"size": 300} if args.dry_run else {}))
    model, preprocessing = build_transfer_model(ds.num_classes, image_size=args.image_size)
    loaders = [make_loader(split, batch_size=32, train=split is ds.train, mean=ds.mean, std=ds.std,
                           preprocessing=preprocessing) for split in (ds.train, ds.val)]
    history = train_head(model, *loaders, epochs=args.epochs)
    trainable, total = count_trainable(model)
    print(f"trainable {trainable:,} of {total:,} parameters ({100 * trainable / total:.2f} %); "
          f"best val accuracy {max(history['val_acc']):.3f}")


if __name__ == "__main__":
    main()
