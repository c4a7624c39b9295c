"""Keras 3 ImageNet backbones, built by name: `create_keras_backbone("efficientnet_lite0")`.

    from shared.backbones import keras_backbones as kb
    backbone = kb.create_keras_backbone("efficientnet_lite0", num_classes=None, input_size=224)
    kb.classify_imagenet(backbone, skimage.data.coffee())     # [('espresso', 0.95), ...]

    backbone = kb.create_keras_backbone("efficientnet_lite0", num_classes=10, input_size=128)
    model = backbone.model                 # keras.Model: (B, 128, 128, 3) prepared images -> (B, 10) logits
    kb.head_layers(model), kb.backbone_layers(model)  # freeze with `layer.trainable = False`
    kb.blocks(model)                       # lists of layers per block, input -> output: unfreeze blocks(model)[-k:]
    kb.replace_head(model, num_classes)    # a new keras.Model: same layers up to the pooling, a fresh Dense head
    kb.feature_extractor(model)            # a keras.Model: images -> (B, feature_dim) pooled features

Models output logits (no softmax): compile with `from_logits=True`. The registry knows them as
("efficientnet_lite0", "keras"), ("mobilenetv2", "keras"), ("efficientnetb0", "keras"); the builders take
(num_classes, input_shape, pretrained=True). Keep BatchNormalization layers frozen (`trainable = False` puts a
Keras BN layer in inference mode) when fine-tuning on small batches.

Backbones
- efficientnet_lite0 (offline): built here with the Functional API (`build_keras_lite0`) and loaded with the SAME
  ImageNet weights as the PyTorch backbone (`load_lite0_weights_from_torch`): conv kernels (out, in, kh, kw) ->
  (kh, kw, in, out), depthwise kernels (C, 1, kh, kw) -> (kh, kw, C, 1), dense (out, in) -> (in, out),
  batch-norm epsilon 1e-3 and Keras "same" padding, which is TensorFlow's (asymmetric for stride 2) exactly as
  timm's tf_efficientnet_lite0 pads. The same image gives the same logits in both frameworks (tested to 1e-3).
  Inputs scaled to [-1, 1] (mean = std = 0.5).
- mobilenetv2, efficientnetb0: keras.applications with the ImageNet weights file, downloaded once to
  $KERAS_HOME/models (default ~/.keras/models). Offline without the file, a RuntimeError names the URL and the
  exact path. MobileNetV2 expects [-1, 1] inputs, EfficientNetB0 raw 0..255 pixels (it rescales internally).
Layer names in the lite0 port follow timm's parameter names with "." -> "_": `blocks_2_0_conv_pw` holds
`blocks.2.0.conv_pw.weight`.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from shared.backbones import Backbone, DEFAULT_SIZE, preprocessing_for, prepare_image, register_backbones, top_k
from shared.backbones import torch_backbones  # the lite0 weights; and torch's imports must precede TensorFlow's

# Keras is imported inside the functions: importing this module (the registry does) does not load TensorFlow.

LITE0_STAGES = [  # (expand_ratio, kernel, first stride, out_channels, repeats), as timm's tf_efficientnet_lite0
    (1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1),
]
LITE0_STEM, LITE0_HEAD = 32, 1280
BN_EPSILON = 1e-3      # the TensorFlow value the lite0 weights were trained with
# Grad-CAM target per backbone (shared/interpret/gradcam.py): the last convolutional activation before the pooling
GRADCAM_LAYERS = {"efficientnet_lite0": "head_act", "mobilenetv2": "out_relu", "efficientnetb0": "top_activation"}
HEAD_DROPOUT = 0.2
APPLICATIONS = {       # name -> (keras.applications class, weights file, md5 or None)
    "mobilenetv2": ("MobileNetV2", "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5", None),
    "efficientnetb0": ("EfficientNetB0", "efficientnetb0.h5", "902e53a9f72be733fc0bcb005b3ebbac"),
}
APPLICATIONS_URLS = {
    "mobilenetv2": "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/",
    "efficientnetb0": "https://storage.googleapis.com/keras-applications/",
}


# ----------------------------------------------------------------------------------------------------- lite0 port
def _block(x, name: str, in_channels: int, expand: int, kernel: int, stride: int, out_channels: int):
    from keras import layers

    shortcut = x
    if expand != 1:  # inverted residual: 1x1 expand -> depthwise -> 1x1 project
        x = layers.Conv2D(in_channels * expand, 1, use_bias=False, name=f"{name}_conv_pw")(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn1")(x)
        x = layers.ReLU(6.0, name=f"{name}_act1")(x)
        norms = (f"{name}_bn2", f"{name}_bn3")
        project = f"{name}_conv_pwl"
    else:            # depthwise separable: depthwise -> 1x1 project
        norms = (f"{name}_bn1", f"{name}_bn2")
        project = f"{name}_conv_pw"
    x = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv_dw")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=norms[0])(x)
    x = layers.ReLU(6.0, name=f"{name}_act2")(x)
    x = layers.Conv2D(out_channels, 1, use_bias=False, name=project)(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=norms[1])(x)  # linear bottleneck: no activation
    if stride == 1 and in_channels == out_channels:
        x = layers.Add(name=f"{name}_add")([shortcut, x])
    return x


def build_keras_lite0(num_classes: int = 1000, input_size: int = DEFAULT_SIZE, dropout: float = HEAD_DROPOUT):
    """EfficientNet-Lite0 with random weights: (B, input_size, input_size, 3) in [-1, 1] -> (B, num_classes) logits."""
    import keras
    from keras import layers

    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = layers.Conv2D(LITE0_STEM, 3, strides=2, padding="same", use_bias=False, name="conv_stem")(inputs)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name="bn1")(x)
    x = layers.ReLU(6.0, name="stem_act")(x)                 # (B, S/2, S/2, 32)
    channels = LITE0_STEM
    for stage, (expand, kernel, stride, out_channels, repeats) in enumerate(LITE0_STAGES):
        for index in range(repeats):
            x = _block(x, f"blocks_{stage}_{index}", channels, expand, kernel, stride if index == 0 else 1,
                       out_channels)
            channels = out_channels                           # (B, S/32, S/32, 320) after the last stage
    x = layers.Conv2D(LITE0_HEAD, 1, use_bias=False, name="conv_head")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name="bn2")(x)
    x = layers.ReLU(6.0, name="head_act")(x)
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)  # (B, 1280)
    x = layers.Dropout(dropout, name="head_dropout")(x)
    outputs = layers.Dense(num_classes, name="classifier")(x)
    return keras.Model(inputs, outputs, name="efficientnet_lite0")


def _to_numpy(value) -> np.ndarray:
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def _keras_weights(layer, tensors: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Torch tensors of one layer (by field name) -> the list `layer.set_weights` expects."""
    kind = type(layer).__name__
    if kind == "BatchNormalization":
        return [tensors["weight"], tensors["bias"], tensors["running_mean"], tensors["running_var"]]
    if kind == "DepthwiseConv2D":
        return [tensors["weight"].transpose(2, 3, 0, 1)]          # (C, 1, kh, kw) -> (kh, kw, C, 1)
    if kind == "Conv2D":
        return [tensors["weight"].transpose(2, 3, 1, 0)]          # (out, in, kh, kw) -> (kh, kw, in, out)
    if kind == "Dense":
        return [tensors["weight"].T, tensors["bias"]]             # (out, in) -> (in, out)
    raise ValueError(f"no rule to port weights into a {kind} layer ({layer.name})")


def load_lite0_weights_from_torch(keras_model, torch_state_dict: dict) -> None:
    """Copy a PyTorch lite0 state dict (timm or package key names) into `build_keras_lite0()`'s model.

    Raises ValueError listing torch tensors with no Keras layer, Keras layers left without weights, and
    shape mismatches. `num_batches_tracked` has no Keras counterpart and is skipped on purpose.
    """
    if "_conv_stem.weight" in torch_state_dict:  # the package's own names: rename them to timm's first
        torch_state_dict = torch_backbones.map_lite0_state_dict(
            torch_state_dict, torch_backbones.create_backbone("efficientnet_lite0", pretrained=False).model)
    by_layer: dict[str, dict[str, np.ndarray]] = {}
    for key, value in torch_state_dict.items():
        prefix, field = key.rsplit(".", 1)
        if field != "num_batches_tracked":
            by_layer.setdefault(prefix.replace(".", "_"), {})[field] = _to_numpy(value)
    layers_with_weights = {layer.name: layer for layer in keras_model.layers if layer.weights}
    unmatched = sorted(set(by_layer) - set(layers_with_weights))
    unfilled = sorted(set(layers_with_weights) - set(by_layer))
    problems = [f"{label}: {', '.join(names)}" for label, names in
                (("torch tensors with no Keras layer", unmatched), ("Keras layers with no weights", unfilled)) if names]
    for name in sorted(set(by_layer) & set(layers_with_weights)):
        layer = layers_with_weights[name]
        values = _keras_weights(layer, by_layer[name])
        shapes = [tuple(w.shape) for w in layer.weights]
        if [v.shape for v in values] != shapes:
            problems.append(f"{name}: torch {[v.shape for v in values]}, keras {shapes}")
        else:
            layer.set_weights(values)
    if problems:
        raise ValueError("the efficientnet_lite0 weights do not fit the Keras model; " + "; ".join(problems))


# ----------------------------------------------------------------------------------------------------- downloads
def keras_cache_dir() -> Path:
    """Where keras.applications keeps weights: $KERAS_HOME/models, default ~/.keras/models."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser() / "models"


def ensure_keras_weights(url: str, file_hash: str | None = None) -> Path:
    """The cached weights file at `url`, downloaded once; offline, a RuntimeError that says where to put it."""
    import keras

    path = keras_cache_dir() / url.rsplit("/", 1)[-1]
    if path.exists():
        return path
    try:
        return Path(keras.utils.get_file(path.name, url, cache_dir=str(path.parent.parent), cache_subdir="models",
                                         file_hash=file_hash))
    except Exception as error:  # keras turns URLError/HTTPError into a plain Exception
        raise RuntimeError(
            f"could not download the pretrained weights {url} ({error}). Without network access, download "
            f"that file elsewhere and copy it to {path} (the Keras cache, set by $KERAS_HOME)."
        ) from error


def _application(name: str, input_size: int, pretrained: bool):
    import keras

    class_name, file_name, file_hash = APPLICATIONS[name]
    weights = str(ensure_keras_weights(APPLICATIONS_URLS[name] + file_name, file_hash)) if pretrained else None
    return getattr(keras.applications, class_name)(input_shape=(input_size, input_size, 3), weights=weights,
                                                   classifier_activation=None)


# ----------------------------------------------------------------------------------------------------- backbones
def create_keras_backbone(name: str, num_classes: int | None = None, input_size: int = DEFAULT_SIZE,
                          pretrained: bool = True) -> Backbone:
    """Build by name; `num_classes=None` keeps the 1000-class ImageNet head, otherwise a fresh Dense head."""
    if name == "efficientnet_lite0":
        model = build_keras_lite0(input_size=input_size)
        if pretrained:
            load_lite0_weights_from_torch(model, torch_backbones.load_lite0_package_state_dict())
    elif name in APPLICATIONS:
        model = _application(name, input_size, pretrained)
    else:
        raise ValueError(f"unknown keras backbone {name!r}; "
                         f"choose one of efficientnet_lite0, {', '.join(APPLICATIONS)}")
    if num_classes is not None:
        model = replace_head(model, num_classes)
    return Backbone(name=name, framework="keras", model=model,
                    preprocessing=preprocessing_for(name, "keras", input_size),
                    feature_dim=int(_pooling(model).output.shape[-1]))


def _pooling(model):
    """The global average pooling whose output feeds the head (the last one: EfficientNet's SE blocks pool too)."""
    from keras import layers

    pools = [layer for layer in model.layers if isinstance(layer, layers.GlobalAveragePooling2D)]
    if not pools:
        raise ValueError(f"{model.name} has no GlobalAveragePooling2D before its head")
    return pools[-1]


def head_layers(model) -> list:
    """The classification head: the final Dense layer."""
    from keras import layers

    dense = [layer for layer in model.layers if isinstance(layer, layers.Dense)]
    if not dense:
        raise ValueError(f"{model.name} has no Dense classification head")
    return dense[-1:]


def backbone_layers(model) -> list:
    """Every layer with weights that is not in the head."""
    head = {id(layer) for layer in head_layers(model)}
    return [layer for layer in model.layers if layer.weights and id(layer) not in head]


def replace_head(model, num_classes: int, dropout: float = 0.0):
    """A new keras.Model sharing every layer up to the global pooling, then Dropout + a fresh Dense head."""
    import keras
    from keras import layers

    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    features = _pooling(model).output                        # (B, feature_dim)
    if dropout:
        features = layers.Dropout(dropout, name="head_dropout_new")(features)
    logits = layers.Dense(num_classes, name="classifier_new")(features)  # (B, num_classes)
    return keras.Model(model.inputs, logits, name=f"{model.name}_transfer")


def feature_extractor(model):
    """A keras.Model sharing `model`'s layers: images -> (B, feature_dim) pooled features."""
    import keras

    return keras.Model(model.inputs, _pooling(model).output, name=f"{model.name}_features")


_BLOCK_PATTERNS = [  # layer name -> block name, for the three architectures here
    (r"^(conv_stem|bn1|stem_act|stem_.*|Conv1|bn_Conv1|Conv1_relu)$", "stem"),
    (r"^blocks_(\d+)_", "stage{}"),            # lite0 port: one block per stage, as torch_backbones.blocks
    (r"^block(\d+)[a-z]_", "stage{}"),         # EfficientNetB0
    (r"^block_(\d+)_", "block{}"),             # MobileNetV2
    (r"^expanded_conv_", "block0"),
    (r"^(conv_head|bn2|head_act|top_conv|top_bn|top_activation|Conv_1|Conv_1_bn|out_relu)$", "top"),
]


def _block_name(layer_name: str) -> str | None:
    for pattern, label in _BLOCK_PATTERNS:
        match = re.match(pattern, layer_name)
        if match:
            return label.format(*match.groups())
    return None


def blocks(model) -> list[list]:
    """Layers with weights grouped into blocks, input -> output (the head excluded): stem, stages, top conv.

    `for block in blocks(model)[-k:]: for layer in block: layer.trainable = True` unfreezes the top k blocks.
    """
    grouped: dict[str, list] = {}
    for layer in backbone_layers(model):
        name = _block_name(layer.name)
        if name is not None:
            grouped.setdefault(name, []).append(layer)
    if not grouped:
        raise ValueError(f"blocks() does not know the layer names of {model.name}")
    return list(grouped.values())


def classify_imagenet(backbone: Backbone, image: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
    """Top-k ImageNet (label, probability) for a uint8 (H, W, 3) photo with an ImageNet-head backbone."""
    batch = prepare_image(image, backbone.preprocessing)[None]  # (1, H, W, 3)
    logits = np.asarray(backbone.model(batch, training=False))[0]  # (1000,)
    if logits.shape[0] != 1000:
        raise ValueError(f"classify_imagenet needs the 1000-class ImageNet head, this one has {logits.shape[0]}")
    return top_k(logits, k)


# ----------------------------------------------------------------------------------------------------- registry
def _build(name: str, num_classes: int, input_shape: tuple[int, int, int], pretrained: bool):
    """Pretrained Keras `name` with a new Dense head of `num_classes` logits."""
    height, width, channels = input_shape
    if channels != 3 or height != width:
        raise ValueError(f"{name} expects square RGB images, got input_shape {input_shape}")
    return create_keras_backbone(name, num_classes, input_size=height, pretrained=pretrained).model


register_backbones("keras", _build, [
    ("efficientnet_lite0", True, (), "EfficientNet-Lite0, the PyTorch ImageNet weights ported to Keras"),
    ("mobilenetv2", False, (), "keras.applications MobileNetV2, ImageNet weights"),
    ("efficientnetb0", False, ("efficientnet_b0",), "keras.applications EfficientNetB0, ImageNet weights"),
], GRADCAM_LAYERS)
