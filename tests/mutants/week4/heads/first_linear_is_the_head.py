# Mutant of solutions/week4/heads.py: find_head returns the first Linear.
# expect: last
"""Week 4 · Exercise 1: A pretrained backbone with a new head.

What you will learn
- A pretrained ImageNet classifier is a *backbone* (convolutions that turn an image into a feature vector)
  plus a *head* (one nn.Linear from those features to 1000 ImageNet logits). Transfer learning keeps the
  backbone and swaps the head for one with as many outputs as your task has classes.
- Where the head is: the last nn.Linear of the model, whatever the architecture calls it (`classifier` in
  EfficientNet, `fc` in ResNet). Find it by type, not by name, and your code works for every backbone.
- Preprocessing belongs to the backbone, not to your dataset: the weights were trained on inputs normalised
  one particular way. EfficientNet-Lite0 expects pixels scaled to [-1, 1] (mean = std = 0.5), torchvision's
  backbones the ImageNet mean/std. Feed Lite0 ImageNet-normalised pixels and every feature is off.

Run it: `python -m solutions.week4.heads` builds Lite0 with a 10-class head and prints what changed.
"""
from __future__ import annotations

import argparse
import dataclasses

import torch
from torch import nn

from shared.backbones import torch_backbones
from shared.data import Preprocessing

DEFAULT_BACKBONE = "efficientnet_lite0"  # the offline default: its weights ship with a Python package


def find_head(model: nn.Module) -> tuple[str, nn.Linear]:
    """The classification head of `model`: its *last* nn.Linear, with its dotted name in `named_modules()`.

    Example: for timm's EfficientNet this is ("classifier", Linear(1280 -> 1000)); for torchvision's ResNet
    ("fc", Linear(512 -> 1000)). Raise ValueError with a sentence if the model has no nn.Linear.
    """
    linears = [(name, module) for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer, so it has no classification head to replace")
    return linears[0]  # named_modules() walks the model in definition order: the head comes last


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Swap the head found by `find_head` for a fresh nn.Linear(in_features, num_classes); return `model`.

    The new layer keeps the old one's `in_features` (the backbone's feature size) and is created with
    PyTorch's default initialisation; every other layer is left exactly as it was (same objects, same
    weights). `model.set_submodule(name, new_layer)` replaces a module by its dotted name.
    Raise ValueError if num_classes < 1.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    name, old_head = find_head(model)
    model.set_submodule(name, nn.Linear(old_head.in_features, num_classes))
    return model


def build_transfer_model(num_classes: int, backbone: str = DEFAULT_BACKBONE, image_size: int = 224,
                         pretrained: bool = True) -> tuple[nn.Module, Preprocessing]:
    """A pretrained backbone with a new `num_classes` head, and the preprocessing its weights expect.

    Use `torch_backbones.create_backbone(backbone, pretrained)`: it returns a `Backbone` whose `.model` is the
    ImageNet classifier and whose `.preprocessing` says how those weights want their input. Return
    (model with the new head, in train mode; Preprocessing(size=image_size, mean=..., std=...) with the
    *backbone's* mean and std). Example: `build_transfer_model(10, image_size=64)` -> Lite0 whose forward maps
    (B, 3, 64, 64) -> (B, 10), and Preprocessing(size=64, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)).
    """
    loaded = torch_backbones.create_backbone(backbone, pretrained=pretrained)
    model = replace_head(loaded.model, num_classes).train()
    preprocessing = dataclasses.replace(loaded.preprocessing, size=image_size)  # the backbone's mean and std
    return model, preprocessing


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build Lite0 with a 10-class head and print what changed.")
    parser.add_argument("--dry-run", action="store_true", help="the same: it is already quick")
    parser.parse_args(argv)
    model, preprocessing = build_transfer_model(10, image_size=64)
    name, head = find_head(model)
    logits = model.eval()(torch.zeros(2, 3, 64, 64))  # (2, 10)
    print(f"head `{name}`: {head}; logits {tuple(logits.shape)}; preprocessing {preprocessing}")


if __name__ == "__main__":
    main()
