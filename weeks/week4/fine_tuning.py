# + active="ipynb"
# # Notebook set-up (a comment in the .py file): find the workbook from the repository root, and let
# # `from .x import y` lines import your other week4 files, as `python -m weeks.week4.fine_tuning` does.
# import sys, pathlib; sys.path.insert(0, str(pathlib.Path.cwd().parents[1]))
# __package__ = "weeks.week4"
# -

# Exercise generated from solutions/week4/fine_tuning.py by `workbook release`: fill in each `# YOUR CODE HERE`.
"""Week 4 · Exercise 3: Fine-tuning — unfreeze the top blocks, with a lower learning rate for the backbone.

What you will learn
- Fine-tuning comes *after* feature extraction: a random head sends large, random gradients into the
  backbone, so train the head first, then unfreeze.
- Unfreeze from the top: the last blocks hold the most task-specific features, the first ones (edges,
  colours) transfer as they are. `torch_backbones.blocks(model)` lists the blocks from input to output.
- Parameter groups: one optimizer, two learning rates. The pretrained backbone gets a learning rate about
  ten times lower than the head, so it adapts without forgetting what it learned on ImageNet.
- BatchNorm stays frozen (parameters and running statistics), as in feature extraction: a deliberate choice
  for small datasets and small batches.

`fine_tune` runs both stages; it is the trainer of the "transfer_lite0" rows of `workbook compare`.
Run it: `python -m weeks.week4.fine_tuning --epochs 2 --dry-run`
"""
from __future__ import annotations

import argparse
import copy
from dataclasses import dataclass

import torch
from torch import nn

from shared.backbones import preprocessing_for, torch_backbones
from shared.hardware import precision_name
from shared.history import best_epoch
from shared.registry import register_model
from solutions.week2.training import fit

from .cached_transfer import CachedConfig, fine_tune_cached, recipe_statement
from .feature_extraction import KeepBatchNormFrozen, set_batchnorm_eval, train_head, trainable_parameters
from .heads import build_transfer_model, find_head

BACKBONE_LR_FACTOR = 0.1   # backbone learning rate = 0.1 x the head's
TRANSFER_IMAGE_SIZE = 64   # input side for the comparison rows: 224 would cost 12x the compute on 2 CPU cores


@dataclass
class FineTuneConfig:
    head_fraction: float = 0.5          # share of the epochs spent training the head alone (at least one epoch)
    unfreeze_blocks: int = 3            # top blocks unfrozen for fine-tuning (Lite0 has 9: stem, 7 stages, top)
    backbone_lr_factor: float = BACKBONE_LR_FACTOR
    weight_decay: float = 1e-4          # AdamW, fine-tuning stage


def unfreeze_top_blocks(model: nn.Module, num_blocks: int) -> nn.Module:
    """Make trainable exactly: the head, and every parameter of the top `num_blocks` blocks of
    `torch_backbones.blocks(model)` except BatchNorm's. Everything else is frozen; every BatchNorm layer is
    frozen and in eval mode (`set_batchnorm_eval`). Return `model`.

    Raise ValueError if num_blocks is not between 0 and len(blocks(model)). num_blocks=0 leaves only the head
    trainable (that is feature extraction again).
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def fine_tuning_optimizer(model: nn.Module, learning_rate: float,
                          backbone_lr_factor: float = BACKBONE_LR_FACTOR,
                          weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters only, in two parameter groups:
    the head's parameters at `learning_rate`, the trainable backbone parameters at
    `learning_rate * backbone_lr_factor`. Raise ValueError unless 0 < backbone_lr_factor < 1.

    Example: `fine_tuning_optimizer(model, 1e-3).param_groups` -> [{"lr": 1e-3, head}, {"lr": 1e-4, backbone}].
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def _merge(first: dict, second: dict) -> dict:
    history = {key: first[key] + second[key] for key in first if isinstance(first[key], list)}
    history["best_epoch"] = best_epoch(history["val_acc"])
    return history


def fine_tune(model: nn.Module, train_loader, val_loader, *, epochs: int, learning_rate: float = 1e-3,
              seed: int | None = 0, device=None, progress: bool = True,
              config: FineTuneConfig = FineTuneConfig()) -> dict:
    """Both stages: train the head (feature extraction), then fine-tune the top blocks with parameter groups.

    The compare trainer protocol: returns one history over all epochs (week 2's format), and leaves in `model`
    the weights of the best validation epoch of either stage.
    """
    head_epochs = max(1, round(epochs * config.head_fraction))
    history = train_head(model, train_loader, val_loader, epochs=head_epochs, learning_rate=learning_rate,
                         device=device, seed=seed, progress=progress)
    if epochs == head_epochs:
        return history
    after_head = copy.deepcopy(model.state_dict())  # the best head-only weights, in case fine-tuning never beats them
    unfreeze_top_blocks(model, config.unfreeze_blocks)
    optimizer = fine_tuning_optimizer(model, learning_rate, config.backbone_lr_factor, config.weight_decay)
    tuned = fit(KeepBatchNormFrozen(model), train_loader, val_loader, epochs=epochs - head_epochs,
                optimizer=optimizer, device=device, seed=seed, progress=progress)
    if max(history["val_acc"]) >= max(tuned["val_acc"]):
        model.load_state_dict(after_head)
    return _merge(history, tuned)


def _transfer(backbone: str, num_classes: int, input_shape, pretrained: bool) -> nn.Module:
    return build_transfer_model(num_classes, backbone, image_size=input_shape[0], pretrained=pretrained)[0]


# One registry entry per backbone: `workbook compare --models transfer_lite0` trains it with `fine_tune`, on images
# prepared the way its ImageNet weights expect. Only Lite0's weights ship offline; the others download once.
COMPARE_EPOCHS = 2  # in `workbook compare`: one epoch for the head, one to fine-tune (8,000 images: ~95 % on shapes)
RECIPE = dict(trainer=fine_tune, recipe=dict(
    optimizer=f"head stage: Adam; fine-tuning stage: AdamW with the backbone at {BACKBONE_LR_FACTOR:g}x the head's rate",
    learning_rate=1e-3, schedule=f"constant; the head alone for round({FineTuneConfig.head_fraction:g} x epochs) "
                                 f"epochs (at least one), then the top {FineTuneConfig.unfreeze_blocks} blocks too",
    augmentation="none", weight_decay=f"{FineTuneConfig.weight_decay:g} in the fine-tuning stage", label_smoothing=0.0,
    epochs=COMPARE_EPOCHS, batch_size=32, other="BatchNorm frozen (statistics and parameters), ImageNet weights"))
CACHED_RECIPE = dict(recipe=recipe_statement(
    COMPARE_EPOCHS, f"frozen pass in {precision_name(CachedConfig.bf16)}, "
                    f"top trained in {'bf16' if CachedConfig.top_bf16 else 'float32'}"))
TRANSFER_SHAPE = (TRANSFER_IMAGE_SIZE, TRANSFER_IMAGE_SIZE, 3)


@register_model("transfer_lite0", framework="torch", trainer=fine_tune_cached, **CACHED_RECIPE, offline=True,
                preprocessing=preprocessing_for("efficientnet_lite0", "torch", TRANSFER_IMAGE_SIZE),
                gradcam_layer=torch_backbones.GRADCAM_LAYERS["efficientnet_lite0"],
                description="EfficientNet-Lite0 (ImageNet): frozen blocks cached once, head, then top 3 blocks fine-tuned")
def build_transfer_lite0(num_classes: int, input_shape=TRANSFER_SHAPE, pretrained: bool = True) -> nn.Module:
    return _transfer("efficientnet_lite0", num_classes, input_shape, pretrained)


@register_model("transfer_resnet18", framework="torch", **RECIPE, offline=False,
                preprocessing=preprocessing_for("resnet18", "torch", TRANSFER_IMAGE_SIZE),
                gradcam_layer=torch_backbones.GRADCAM_LAYERS["resnet18"],
                description="torchvision resnet18 (ImageNet): head, then top 3 blocks")
def build_transfer_resnet18(num_classes: int, input_shape=TRANSFER_SHAPE, pretrained: bool = True) -> nn.Module:
    return _transfer("resnet18", num_classes, input_shape, pretrained)


@register_model("transfer_mobilenet_v3_small", framework="torch", **RECIPE, offline=False,
                preprocessing=preprocessing_for("mobilenet_v3_small", "torch", TRANSFER_IMAGE_SIZE),
                gradcam_layer=torch_backbones.GRADCAM_LAYERS["mobilenet_v3_small"],
                description="torchvision mobilenet_v3_small (ImageNet): head, then top 3 blocks")
def build_transfer_mobilenet_v3_small(num_classes: int, input_shape=TRANSFER_SHAPE,
                                      pretrained: bool = True) -> nn.Module:
    return _transfer("mobilenet_v3_small", num_classes, input_shape, pretrained)


@register_model("transfer_efficientnet_b0", framework="torch", aliases=("transfer_efficientnetb0",), **RECIPE,
                offline=False, preprocessing=preprocessing_for("efficientnet_b0", "torch", TRANSFER_IMAGE_SIZE),
                gradcam_layer=torch_backbones.GRADCAM_LAYERS["efficientnet_b0"],
                description="torchvision efficientnet_b0 (ImageNet): head, then top 3 blocks")
def build_transfer_efficientnet_b0(num_classes: int, input_shape=TRANSFER_SHAPE, pretrained: bool = True) -> nn.Module:
    return _transfer("efficientnet_b0", num_classes, input_shape, pretrained)


def main(argv: list[str] | None = None) -> None:
    import time

    from shared.data import load_dataset
    from shared.data.torch_data import make_loader
    from solutions.week2.training import evaluate

    from .feature_extraction import count_trainable

    parser = argparse.ArgumentParser(description="Feature extraction, then fine-tuning; test accuracy after each.")
    parser.add_argument("--dataset", default="shapes", help="shapes, cifar10, or folder:PATH")
    parser.add_argument("--size", type=int, default=None, help="cap on the images loaded (class-balanced)")
    parser.add_argument("--epochs", type=int, default=4, help="in total: half head only, half fine-tuning")
    parser.add_argument("--image-size", type=int, default=TRANSFER_IMAGE_SIZE)
    parser.add_argument("--dry-run", action="store_true", help="a few hundred images, to check that it runs")
    args = parser.parse_args(argv)
    ds = load_dataset(args.dataset, size=300 if args.dry_run else args.size)
    model, preprocessing = build_transfer_model(ds.num_classes, image_size=args.image_size)
    train, val, test = (make_loader(split, batch_size=32, train=split is ds.train, mean=ds.mean, std=ds.std,
                                    preprocessing=preprocessing) for split in (ds.train, ds.val, ds.test))
    config, head_epochs = FineTuneConfig(), max(1, args.epochs // 2)
    print(f"{ds.name}: {len(ds.train)} train / {len(ds.val)} val / {len(ds.test)} test, {args.image_size} px")
    start = time.perf_counter()
    train_head(model, train, val, epochs=head_epochs)
    seconds, (trainable, total) = time.perf_counter() - start, count_trainable(model)
    print(f"feature extraction: {head_epochs} epochs, {seconds:.0f} s, trainable {trainable:,} of {total:,}, "
          f"test accuracy {evaluate(model, test)[1]:.3f}")
    if args.epochs > head_epochs:
        unfreeze_top_blocks(model, config.unfreeze_blocks)
        optimizer = fine_tuning_optimizer(model, 1e-3, config.backbone_lr_factor, config.weight_decay)
        start = time.perf_counter()
        fit(KeepBatchNormFrozen(model), train, val, epochs=args.epochs - head_epochs, optimizer=optimizer)
        seconds, (trainable, total) = time.perf_counter() - start, count_trainable(model)
        print(f"fine-tuning: {args.epochs - head_epochs} epochs, {seconds:.0f} s, trainable {trainable:,} of "
              f"{total:,}, test accuracy {evaluate(model, test)[1]:.3f}")


# + active="py"
if __name__ == "__main__":
    main()
# -


# ## Check your work
# The cell below runs this exercise's autograder tests on `weeks/week4/fine_tuning.py` as saved, and prints the
# scoreboard: save the notebook first (Ctrl+S). From a terminal: `pytest autograder/week4/test_fine_tuning.py`.

# + active="ipynb"
# from shared.grading.notebook import grade
# grade("week4", "fine_tuning", globals())
