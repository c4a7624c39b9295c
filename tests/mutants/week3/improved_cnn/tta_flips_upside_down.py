# Mutant of solutions/week3/improved_cnn.py: TTA averages with the vertical flip.
# expect: mirror
"""Week 3 · Exercise 10: An improved CNN: a small residual network and a recipe that combines the whole week.

What it reaches (bench/improved_cnn.py, bench/results/improved_cnn.md): 87.7 % held-out CIFAR-10 test accuracy
(3 seeds: 87.77 %, 87.78 %, 87.68 %; 10,000 held-out images never tuned on, flip TTA) after 8 minutes of training
on 40,000 images, on this workbook's 2-core CPU (AVX-512 BF16, no GPU, torch 2.14, bf16 autocast +
channels_last, quiet machine): about 18.5 epochs at ~1,530 images/s. Along the way: ~80 % at 160 s, ~85 % at
320 s. The 90 % goal is NOT reached in 8 minutes; the curve is still rising, so more epochs (or a GPU: airbench94
reaches 94 % in 3.8 s on an A100) would get there.

What you will learn
- A residual CNN in the style of airbench94 (Keller Jordan's fast CIFAR-10 trainer), without its whitening
  layer: three stages of conv -> max-pool -> BatchNorm -> GELU, each with a residual 3x3 conv, then global
  max-pooling and a linear head. Small widths, because compute is the budget.
- The recipe that makes it train fast: flip + translate augmentation on whole batches, label smoothing 0.2,
  SGD with Nesterov momentum and a large-ish batch, a OneCycle schedule with linear annealing stepped per batch,
  bf16 autocast with channels_last on the CPU, and test-time augmentation (average the logits of each image and
  its mirror image).

Registered as "resnet_cnn" (torch) with its recipe as the `trainer`, so `workbook compare --models resnet_cnn`
trains it this way. Run it: `python -m solutions.week3.improved_cnn --epochs 2` (shapes), or bench/improved_cnn.py
for CIFAR-10.
"""
from __future__ import annotations

import argparse
import copy
from dataclasses import dataclass

import torch
from torch import nn

from shared.registry import register_model

from .augmentation import random_crop_flip
from .loop import fit
from .regularization import label_smoothing_cross_entropy
from .schedules import BATCH, Schedule


LOGIT_SCALE = 1 / 8   # airbench scales its logits down: max-pooled features are large, and so would the first losses be


@dataclass
class RecipeConfig:
    widths: tuple[int, int, int] = (32, 64, 128)   # channels of the three stages
    batch_size: int = 512            # large-ish: fewer, better-utilised steps; BN statistics stay stable
    learning_rate: float = 0.4       # OneCycle peak for SGD + Nesterov at this batch size
    weight_decay: float = 5e-4       # on conv/linear weights only
    label_smoothing: float = 0.2     # airbench's value
    translate: int = 2               # pixels of random translation (reflection padding + crop)
    pct_start: float = 0.2           # fraction of the steps spent warming up
    bf16: bool = True                # bf16 autocast (CPU) + channels_last


def conv_bn(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.GELU())


class ResidualStage(nn.Module):
    """(B, in, H, W) -> (B, out, H/2, W/2): conv -> max-pool -> BN -> GELU, then x + conv -> BN -> GELU."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2)
        self.norm = nn.BatchNorm2d(out_channels)
        self.activation = nn.GELU()
        self.residual = conv_bn(out_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.activation(self.norm(self.pool(self.conv(x))))   # (B, out, H/2, W/2)
        return x + self.residual(x)


class ResNetCNN(nn.Module):
    """Stem conv, three residual stages (each halves H and W), global max-pool, linear head.

    Input (B, C, H, W) with input_shape = (H, W, C), H and W at least 8; output logits (B, num_classes). The
    forward converts its input to channels_last, the layout the oneDNN convolution kernels prefer.
    """

    def __init__(self, num_classes: int, input_shape: tuple[int, int, int], widths=(32, 64, 128)):
        super().__init__()
        height, width, channels = input_shape
        if min(height, width) < 8:
            raise ValueError(f"ResNetCNN halves the image three times and needs at least 8x8 inputs, got {height}x{width}")
        self.stem = conv_bn(channels, widths[0])
        self.stages = nn.Sequential(ResidualStage(widths[0], widths[0]), ResidualStage(widths[0], widths[1]),
                                    ResidualStage(widths[1], widths[2]))
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Linear(widths[2], num_classes, bias=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.contiguous(memory_format=torch.channels_last)
        x = self.stages(self.stem(x))                   # (B, widths[2], H/8, W/8)
        return self.head(self.pool(x).flatten(1)) * LOGIT_SCALE   # (B, num_classes)


@torch.no_grad()
def tta_logits(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Test-time augmentation: the mean of the logits of `images` (B, C, H, W) and of their mirror images."""
    model.eval()
    return (model(images).float() + model(images.flip(-2)).float()) / 2


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    decay = [p for p in model.parameters() if p.ndim >= 2]
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": [p for p in model.parameters() if p.ndim < 2], "weight_decay": 0.0}]


class _KeepBest:
    """Callback: remember the weights of the best val_acc epoch and put them back at the end."""

    def on_train_begin(self, state):
        self.best, self.weights = -1.0, None

    def on_epoch_end(self, epoch, logs, state):
        if logs["val_acc"] > self.best:
            self.best, self.weights = logs["val_acc"], copy.deepcopy(state.model.state_dict())

    def on_train_end(self, state):
        if self.weights is not None:
            state.model.load_state_dict(self.weights)


def train_recipe(model: nn.Module, train, val, *, epochs: int, config: RecipeConfig | None = None,
                 callbacks=(), keep_best: bool = True) -> dict:
    """Train `model` with the recipe; returns the history (and leaves the best val_acc epoch's weights)."""
    config = config or RecipeConfig()
    optimizer = torch.optim.SGD(_param_groups(model, config.weight_decay), lr=config.learning_rate,
                                momentum=0.9, nesterov=True)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.learning_rate, pct_start=config.pct_start,
                                                    total_steps=epochs * len(train), anneal_strategy="linear")
    loss_fn = lambda logits, labels: label_smoothing_cross_entropy(logits, labels, config.label_smoothing)  # noqa: E731
    augment = lambda images: random_crop_flip(images, config.translate)  # noqa: E731
    callbacks = [*callbacks, _KeepBest()] if keep_best else list(callbacks)
    return fit(model, train, val, optimizer, epochs, loss_fn=loss_fn, schedule=Schedule(scheduler, BATCH),
               callbacks=callbacks, augment=augment, autocast_dtype=torch.bfloat16 if config.bf16 else None)


def fit_resnet_cnn(model, train, val, *, epochs: int, learning_rate: float, seed: int, device="cpu",
                   progress: bool = True) -> dict:
    """The comparison report's trainer for this row (shared/compare/recipe.py's protocol)."""
    torch.manual_seed(seed)
    return train_recipe(model, train, val, epochs=epochs, config=RecipeConfig(learning_rate=learning_rate))


@register_model("resnet_cnn", framework="torch", trainer=fit_resnet_cnn, data_parallel=True,
                learning_rate=RecipeConfig.learning_rate,
                batch_size=RecipeConfig.batch_size, gradcam_layer="stages.-1",
                description="residual CNN + airbench-style recipe (flip/crop, label smoothing, OneCycle, bf16)")
def build_resnet_cnn(num_classes: int, input_shape: tuple[int, int, int] = (32, 32, 3), **options) -> ResNetCNN:
    return ResNetCNN(num_classes, input_shape, **options)


def main(argv: list[str] | None = None) -> None:
    from shared.data import load_dataset

    from .augmentation import make_loaders

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--dry-run", action="store_true", help="one epoch on 300 images")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    ds = load_dataset("shapes", size=300 if args.dry_run else 2000, image_size=32, seed=0)
    train, val, _ = make_loaders(ds, batch_size=64)
    model = build_resnet_cnn(ds.num_classes, ds.image_shape)
    history = train_recipe(model, train, val, epochs=1 if args.dry_run else args.epochs,
                           config=RecipeConfig(learning_rate=0.1))
    print(f"val_acc per epoch: {[round(a, 3) for a in history['val_acc']]}")


if __name__ == "__main__":
    main()
