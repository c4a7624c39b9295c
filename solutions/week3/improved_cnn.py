"""Week 3 · Exercise 10: An improved CNN: airbench's network and recipe, on a CPU.

What it reaches (bench/improved_cnn.py; numbers in bench/results/summary.md): on the held-out 10,000 images of
CIFAR-10's training split (never tuned on), after training on the other 40,000 on this workbook's 2-core CPU
(AVX-512 BF16, no AMX, no GPU; torch 2.14, bf16 autocast + channels_last):
- 8 minutes of training (11.2 epochs at ~42 s each, ~985 images/s): 88.98 % with multi-crop TTA (88.89-89.02 %,
  3 seeds; `python -m bench --only improved_cnn3`, 2026-12-01, quiet), 88.72 % with mirror TTA. The 90 % goal in
  8 minutes is one point away.
- 20 epochs (13.4 minutes, batch 1024, 1 seed): 90.04 %.
- The previous version of this file (a residual CNN without the airbench tricks) reached 87.7 % in 8 minutes.
- For scale: airbench94 reaches 94 % in 3.8 s on an A100 (50,000 training images).
- bf16 autocast is used only where the hardware has bf16 units (`shared.hardware.native_bf16`): on an AVX2-only
  CPU, where bf16 is emulated, one epoch on 8,000 images took 40 s in float32 and over 400 s in bf16 (2026-12-01),
  so there the recipe trains in float32.

What you will learn
- airbench's network (Keller Jordan, github.com/KellerJordan/cifar10-airbench): a frozen 2x2 whitening conv, three
  stages of conv -> max-pool -> BatchNorm -> GELU -> conv -> BatchNorm -> GELU whose convs start as identity maps
  (a residual connection built into the initial weights), global max-pooling, a linear head with scaled-down
  logits. Widths 64/128/128: wide enough to keep the CPU's vector units busy (about 70 % of their bf16 peak).
- The recipe: alternating flips and 2-pixel translations of in-memory batches, label smoothing 0.2, SGD with
  Nesterov momentum 0.85 and batch 512, a triangular learning-rate schedule stepped per batch, BatchNorm biases
  at 64x the learning rate, lookahead averaging of the weights, bf16 autocast with channels_last, and multi-crop
  test-time augmentation. airbench_tricks.py explains each trick; bench/results/summary.md shows what each one
  buys here.

Registered as "resnet_cnn" (torch) with its recipe as the `trainer`, so `workbook compare --models resnet_cnn`
trains it this way. Run it: `python -m solutions.week3.improved_cnn --epochs 2` (shapes), or
`python -m bench.improved_cnn` for CIFAR-10.
"""
from __future__ import annotations

import argparse
import copy
import functools
import itertools
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, replace

import torch
from torch import nn
from torch.nn import functional as F

from shared.hardware import native_bf16, precision_name
from shared.registry import register_model

from .airbench_tricks import AlternatingFlipBatches, Lookahead, init_whitening
from .loop import evaluate, train_one_epoch
from .regularization import label_smoothing_cross_entropy
from .schedules import BATCH, Schedule


LOGIT_SCALE = 1 / 9   # airbench scales its logits down: max-pooled features are large, and so would the first losses be
WHITENING_IMAGES = 5000   # training images whose 2x2 patches set the whitening filters
MIN_STEPS_PER_EPOCH, MIN_BATCH = 10, 32   # small training sets get smaller batches, not one step per epoch


@dataclass
class RecipeConfig:
    widths: tuple[int, int, int] = (64, 128, 128)   # channels of the three stages (airbench93's)
    batch_size: int = 512            # airbench's 1024 halved: more steps per epoch, and faster per image here
    learning_rate: float = 0.75      # peak LR (mean loss) at batch_size; scale it with the batch size
    momentum: float = 0.85           # Nesterov
    weight_decay: float = 1.33e-3    # on every weight; the BatchNorm biases get it too, divided by bias_lr_scale
    bias_lr_scale: float = 64.0      # BatchNorm biases learn this much faster (airbench's "bias scaler")
    label_smoothing: float = 0.2
    translate: int = 2               # pixels of random translation (reflection padding + crop)
    warmup: float = 0.23             # fraction of the steps spent warming up (triangle: 0.2 -> 1 -> 0.07 x the LR)
    lookahead_from: int = 3          # epochs before the weights start being averaged (see airbench_tricks.Lookahead)
    whiten_bias_epochs: int = 3      # epochs the whitening layer's bias trains before it is frozen too
    bf16: bool = native_bf16()       # bf16 autocast where the hardware has bf16 units (shared/hardware.py)


def batch_norm(channels: int) -> nn.BatchNorm2d:
    """airbench's BatchNorm: running statistics that follow the batches fast (momentum 0.4), and no learned scale
    (the weight stays 1; only the bias learns), which leaves one less thing for the large learning rate to upset."""
    norm = nn.BatchNorm2d(channels, momentum=0.4, eps=1e-12)
    norm.weight.requires_grad_(False)
    return norm


def identity_init(conv: nn.Conv2d) -> nn.Conv2d:
    """Make the first `in_channels` filters of `conv` pass their input channel through unchanged (a Dirac delta),
    the others keep PyTorch's random initialisation: at the start, the conv is (partly) an identity map."""
    with torch.no_grad():
        nn.init.dirac_(conv.weight[:conv.in_channels])
    return conv


class ResidualStage(nn.Module):
    """(B, in, H, W) -> (B, out, H/2, W/2): conv -> max-pool -> BN -> GELU -> conv -> BN -> GELU.

    The residual connection is built into the initial weights instead of an explicit `x + f(x)`: both convs
    start from `identity_init`, so the stage starts close to the identity and learns what to add (airbench's
    block; on CIFAR-10 it trained 4.6 points better than the explicit `x + f(x)` in 4 epochs, see bench/).
    Use `batch_norm` for both BatchNorm layers.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        ### BEGIN SOLUTION
        self.conv1 = identity_init(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False))
        self.pool = nn.MaxPool2d(2)
        self.norm1 = batch_norm(out_channels)
        self.conv2 = identity_init(nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False))
        self.norm2 = batch_norm(out_channels)
        self.activation = nn.GELU()
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        x = self.activation(self.norm1(self.pool(self.conv1(x))))   # (B, out, H/2, W/2)
        return self.activation(self.norm2(self.conv2(x)))
        ### END SOLUTION


class ResNetCNN(nn.Module):
    """A 2x2 whitening conv + GELU, three residual stages (each halves H and W), global max-pool, linear head.

    Input (B, C, H, W) with input_shape = (H, W, C), H and W at least 9; output logits (B, num_classes). The
    whitening conv `self.whiten` (C -> 8 * C channels, kernel 2, no padding: H - 1 x W - 1) is what
    `train_recipe` initialises from the training images (airbench_tricks.init_whitening). The forward converts its
    input to channels_last, the layout the oneDNN convolution kernels prefer.
    """

    def __init__(self, num_classes: int, input_shape: tuple[int, int, int], widths=(64, 128, 128)):
        super().__init__()
        height, width, channels = input_shape
        if min(height, width) < 9:
            raise ValueError(f"ResNetCNN trims one pixel, then halves the image three times: it needs at least 9x9 "
                             f"inputs, got {height}x{width}")
        ### BEGIN SOLUTION
        self.whiten = nn.Conv2d(channels, 2 * channels * 2 * 2, kernel_size=2, bias=True)
        self.stages = nn.Sequential(ResidualStage(self.whiten.out_channels, widths[0]),
                                    ResidualStage(widths[0], widths[1]), ResidualStage(widths[1], widths[2]))
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Linear(widths[2], num_classes, bias=False)
        ### END SOLUTION

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        x = images.contiguous(memory_format=torch.channels_last)
        x = self.stages(F.gelu(self.whiten(x)))         # (B, widths[2], (H-1)/8, (W-1)/8)
        return self.head(self.pool(x).flatten(1)) * LOGIT_SCALE   # (B, num_classes)
        ### END SOLUTION


@torch.no_grad()
def tta_logits(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Test-time augmentation: the mean of the logits of `images` (B, C, H, W) and of their mirror images."""
    ### BEGIN SOLUTION
    model.eval()
    return (model(images).float() + model(images.flip(-1)).float()) / 2
    ### END SOLUTION


def _param_groups(model: nn.Module, config: RecipeConfig) -> list[dict]:
    """BatchNorm biases at bias_lr_scale x the LR (same decay per step); everything else at the LR."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.bias is not None]
    biases = {id(m.bias) for m in norms}
    rest = [p for p in model.parameters() if id(p) not in biases]
    return [{"params": rest, "lr": config.learning_rate, "weight_decay": config.weight_decay},
            {"params": [p for p in model.parameters() if id(p) in biases],
             "lr": config.learning_rate * config.bias_lr_scale,
             "weight_decay": config.weight_decay / config.bias_lr_scale}]


def triangle(warmup: float, start: float = 0.2, end: float = 0.07):
    """The LR factor at progress x in [0, 1]: linear from `start` up to 1 at `warmup`, then down to `end` at 1."""
    def factor(x: float) -> float:
        return start + (1 - start) * x / warmup if x < warmup else 1 + (end - 1) * (x - warmup) / (1 - warmup)
    return factor


def gather(loader, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (images, labels) batch of `loader`, concatenated on `device`: CIFAR-10 fits in memory, and batches
    cut from tensors in memory cost nothing next to the per-image work of a DataLoader."""
    pairs = list(loader)
    return torch.cat([x for x, _ in pairs]).to(device), torch.cat([y for _, y in pairs]).to(device)


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else nullcontext()


def training_batches(images: torch.Tensor, labels: torch.Tensor, requested: int, config: RecipeConfig,
                     seed: int) -> tuple[AlternatingFlipBatches, RecipeConfig]:
    """The recipe's batches of `images`, and the config to train them with.

    Batches have `requested` images (the loader's batch size), made smaller (down to 32, with the learning rate
    scaled alike) when an epoch would have fewer than 10 steps."""
    batch_size = min(requested, max(MIN_BATCH, len(labels) // MIN_STEPS_PER_EPOCH), len(labels))
    if batch_size < requested:   # a small training set: smaller batches, the same learning rate per image
        config = replace(config, learning_rate=config.learning_rate * batch_size / requested)
    generator = torch.Generator().manual_seed(seed)
    return AlternatingFlipBatches(images, labels, batch_size, config.translate, generator), config


def make_optimizer(model: nn.Module, config: RecipeConfig, total_steps: int,
                   steps_per_epoch: int) -> tuple[Lookahead, Schedule]:
    """SGD + Nesterov over `_param_groups`, wrapped in Lookahead, and the triangular schedule stepped per batch."""
    optimizer = torch.optim.SGD(_param_groups(model, config), momentum=config.momentum, nesterov=True)
    factor = triangle(config.warmup)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: factor(min(1.0, step / total_steps)))
    lookahead = Lookahead(optimizer, model, total_steps, start=config.lookahead_from * steps_per_epoch)
    return lookahead, Schedule(scheduler, BATCH)


def train_recipe(model: nn.Module, train, val=None, *, epochs: float, config: RecipeConfig | None = None,
                 callbacks=(), keep_best: bool = True, seed: int = 0) -> dict:
    """Train `model` with the recipe and return the history (week 3's format, see loop.py).

    `train` yields (images, labels) batches (a DataLoader, or a list of batches); they are gathered into memory
    and served again by `training_batches`. A `whiten` conv, if the model has one, is initialised from the first
    training images.
    `epochs` may be fractional (the last epoch is cut short). With `val`, each epoch is evaluated on it and, with
    `keep_best`, the model ends with the best epoch's weights; without it (benchmarks, where every image is for
    training or for the held-out test) the val keys stay empty. Each callback's `on_epoch_end(epoch, logs, model)`
    runs after each epoch, outside the timed part.
    """
    config = config or RecipeConfig()
    images, labels = gather(train, next(model.parameters()).device)
    device = images.device
    whiten = model.whiten if isinstance(getattr(model, "whiten", None), nn.Conv2d) else None
    if whiten is not None:
        init_whitening(whiten, images[:WHITENING_IMAGES])
    requested = getattr(train, "batch_size", None) or config.batch_size
    batches, config = training_batches(images, labels, requested, config, seed)
    del images, labels
    total_steps = max(1, round(epochs * len(batches)))
    optimizer, schedule = make_optimizer(model, config, total_steps, len(batches))
    loss_fn = functools.partial(label_smoothing_cross_entropy, smoothing=config.label_smoothing)
    autocast_dtype = torch.bfloat16 if config.bf16 else None
    history = {key: [] for key in ("train_loss", "train_acc", "val_loss", "val_acc", "epoch_time_s", "lr")}
    best = (-1.0, None)
    for epoch in range(math.ceil(total_steps / len(batches))):
        if whiten is not None and whiten.bias is not None:
            whiten.bias.requires_grad_(epoch < config.whiten_bias_epochs)
        steps = min(len(batches), total_steps - epoch * len(batches))
        start, lr = time.perf_counter(), optimizer.param_groups[0]["lr"]
        with _autocast(device, config.bf16 and device.type != "cpu"):   # loop.py's autocast is the CPU one
            train_loss, train_acc = train_one_epoch(model, itertools.islice(batches, steps), optimizer, loss_fn,
                                                    schedule, autocast_dtype=autocast_dtype)
        optimizer.finish()
        if device.type == "cuda":
            torch.cuda.synchronize()
        logs = {"train_loss": train_loss, "train_acc": train_acc, "epoch_time_s": time.perf_counter() - start, "lr": lr}
        if val is not None:
            logs["val_loss"], logs["val_acc"] = evaluate(model, val, autocast_dtype=autocast_dtype)
            if keep_best and logs["val_acc"] > best[0]:
                best = (logs["val_acc"], copy.deepcopy(model.state_dict()))
        for key, value in logs.items():
            history[key].append(value)
        for callback in callbacks:
            callback.on_epoch_end(epoch, logs, model)
    if val is not None:
        history["best_epoch"] = max(range(len(history["val_acc"])), key=history["val_acc"].__getitem__)
        if keep_best:
            model.load_state_dict(best[1])
    return history


def fit_resnet_cnn(model, train, val, *, epochs: int, learning_rate: float, seed: int, device="cpu",
                   progress: bool = True) -> dict:
    """The comparison report's trainer for this row (shared/compare/recipe.py's protocol)."""
    torch.manual_seed(seed)
    return train_recipe(model, train, val, epochs=epochs, config=RecipeConfig(learning_rate=learning_rate), seed=seed)


COMPARE_EPOCHS = 4  # in `workbook compare`: 8,000 shapes images, ~98 %


@register_model("resnet_cnn", framework="torch", trainer=fit_resnet_cnn, gradcam_layer="stages.-1",
                single_process="its recipe reads the whole training set into memory and batches it itself",
                recipe=dict(
                    optimizer=(f"SGD with Nesterov momentum {RecipeConfig.momentum:g}, lookahead weight averaging "
                               f"from epoch {RecipeConfig.lookahead_from + 1}, BatchNorm biases at "
                               f"{RecipeConfig.bias_lr_scale:g}x the rate"),
                    learning_rate=RecipeConfig.learning_rate,
                    schedule=(f"per batch: triangular, 0.2x up to the peak over {RecipeConfig.warmup:.0%} of the steps, "
                              f"then down to 0.07x; smaller batches (and rate) when an epoch would have under 10 steps"),
                    augmentation=f"alternating horizontal flips and translation up to {RecipeConfig.translate} px",
                    weight_decay=f"{RecipeConfig.weight_decay:g} on every weight",
                    label_smoothing=RecipeConfig.label_smoothing, epochs=COMPARE_EPOCHS,
                    batch_size=RecipeConfig.batch_size,
                    other=f"frozen whitening conv, {precision_name(RecipeConfig.bf16)}, channels_last"),
                description="whitened residual CNN + airbench recipe (alternating flips, lookahead)")
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
