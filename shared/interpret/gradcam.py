"""Grad-CAM (Selvaraju et al., 2017) for registered models, in both frameworks.

    from shared.interpret.gradcam import gradcam, layer_for
    layer = layer_for(entry, model)                    # the layer the registry entry names
    cam = gradcam(model, pixels, layer, "torch")       # pixels: the prepared image, float32 (H, W, C)
    cam.heatmap                                        # float32 (H, W) in [0, 1]: 1 where the evidence is strongest

Both frameworks compute the same map at the layer's resolution: for the explained class c with logit y_c and
the layer's activations A (K channels of h x w), w_k = mean over (h, w) of dy_c/dA_k and map = ReLU(sum_k w_k A_k).
PyTorch goes through captum's `LayerGradCam` (the PyTorch team's attribution library; it takes gradients with
`torch.autograd.grad`, so the model's `.grad` fields are left alone). Keras goes through `tf.GradientTape`, as in
keras-io's Grad-CAM example. The same numpy code then upsamples the map to the image (bilinear, half-pixel
centres) and divides it by its maximum, so the frameworks differ only in their float arithmetic.

Which layer: the model's registry entry says, `@register_model(..., gradcam_layer=SPEC)` (GRADCAM_KEY):
- a str. torch: a dotted module path as `named_modules()` prints it ("features.2.2"); integer parts index the
  children of a Sequential or ModuleList and may be negative ("features.-1" is the last feature block).
  keras: a layer name ("top_activation").
- a tuple (class name, index): the index-th layer of that class, in model order. ("ReLU", -1) is the last
  ReLU layer; for Keras models whose layer names are generated ("re_lu_7" today, "re_lu_11" next build).
Usually the last convolutional block's activation: the deepest maps that still know where things are.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRADCAM_KEY = "gradcam_layer"   # the registry `info` key naming the target layer


class GradCamUnavailable(ValueError):
    """This model cannot be explained with Grad-CAM as registered: no target layer, or one that does not fit."""


@dataclass
class GradCam:
    heatmap: np.ndarray        # float32 (H, W) in [0, 1] at the prepared image's size; all zeros: no positive evidence
    class_index: int           # the class explained: the top prediction unless another was asked for
    probabilities: np.ndarray  # float32 (num_classes,): softmax of the model's logits for this image
    layer_map: np.ndarray      # float32 (h, w): the map at the layer's resolution (after the ReLU, before scaling)


# ---------------------------------------------------------------------------------------------------- layers
def layer_for(entry, model):
    """The target layer of `model` named by its registry entry's `gradcam_layer` (see the module docstring)."""
    spec = entry.info.get(GRADCAM_KEY)
    if spec is None:
        raise GradCamUnavailable(
            f"{entry.name!r} ({entry.framework}, {entry.impl}) names no Grad-CAM layer: add "
            f"{GRADCAM_KEY}=... to its @register_model (for example its last convolutional block's activation)")
    return target_layer(model, spec, entry.framework)


def target_layer(model, spec, framework: str):
    """The layer `spec` names in `model`: a str (torch: dotted path; keras: layer name) or (class name, index)."""
    if isinstance(spec, (tuple, list)) and len(spec) == 2:
        return _nth_of_class(model, str(spec[0]), int(spec[1]), framework)
    if not isinstance(spec, str):
        raise GradCamUnavailable(f"{GRADCAM_KEY} must be a str or a (class name, index) pair, got {spec!r}")
    if framework == "keras":
        names = [layer.name for layer in model.layers]
        if spec not in names:
            raise GradCamUnavailable(f"{model.name} has no layer named {spec!r} (its last layers: "
                                     f"{', '.join(names[-6:])})")
        return model.get_layer(spec)
    return _torch_path(model, spec)


def _torch_path(model, path: str):
    module = model
    for part in path.split("."):
        children = dict(module.named_children())
        if part.lstrip("-").isdigit() and part not in children:
            items = list(children.values())
            if not -len(items) <= int(part) < len(items):
                raise GradCamUnavailable(f"{path!r}: {type(module).__name__} has {len(items)} children, no [{part}]")
            module = items[int(part)]
        elif part in children:
            module = children[part]
        else:
            raise GradCamUnavailable(f"{path!r}: {type(module).__name__} has no child {part!r} "
                                     f"(children: {', '.join(children) or 'none'})")
    return module


def _nth_of_class(model, class_name: str, index: int, framework: str):
    candidates = model.layers if framework == "keras" else list(model.modules())
    matches = [layer for layer in candidates if type(layer).__name__ == class_name]
    if not -len(matches) <= index < len(matches):
        raise GradCamUnavailable(f"({class_name!r}, {index}): the model has {len(matches)} {class_name} layers")
    return matches[index]


# ---------------------------------------------------------------------------------------------------- maps
def gradcam(model, pixels: np.ndarray, layer, framework: str, class_index: int | None = None) -> GradCam:
    """Grad-CAM of one prepared image, float32 (H, W, C) (normalised as the model was trained), for
    `class_index` (default: the predicted class). The model is evaluated in inference mode (BatchNorm's running
    statistics, no dropout); a torch model's train/eval mode is restored afterwards.
    """
    return gradcams(model, np.asarray(pixels)[None], layer, framework,
                    None if class_index is None else [class_index])[0]


def gradcams(model, batch: np.ndarray, layer, framework: str, class_indices=None) -> list[GradCam]:
    """`gradcam` for a batch of prepared images (N, H, W, C); class_indices: one per image, or None (predicted)."""
    batch = np.ascontiguousarray(batch, dtype=np.float32)
    if batch.ndim != 4:
        raise ValueError(f"expected prepared images (N, H, W, C), got an array of shape {batch.shape}")
    compute = {"torch": _torch_maps, "keras": _keras_maps}.get(framework)
    if compute is None:
        raise ValueError(f"framework must be 'torch' or 'keras', got {framework!r}")
    maps, logits, classes = compute(model, batch, layer, class_indices)
    if not (np.isfinite(maps).all() and np.isfinite(logits).all()):
        raise ValueError("Grad-CAM met NaN or inf in the model's outputs or gradients: the weights are not finite")
    probabilities = _softmax(logits)
    size = batch.shape[1:3]
    return [GradCam(normalise(resize(layer_map, size)), int(c), p, layer_map.astype(np.float32))
            for layer_map, c, p in zip(maps, classes, probabilities)]


def _targets(logits: np.ndarray, class_indices) -> np.ndarray:
    if class_indices is None:
        return logits.argmax(axis=1)
    classes = np.asarray(class_indices, dtype=np.int64).reshape(-1)
    if len(classes) != len(logits) or classes.min() < 0 or classes.max() >= logits.shape[1]:
        raise ValueError(f"class_indices must hold one class in 0..{logits.shape[1] - 1} per image, got {class_indices}")
    return classes


def _torch_maps(model, batch: np.ndarray, layer, class_indices):
    import torch
    from captum.attr import LayerGradCam

    device = next(model.parameters(), torch.empty(0)).device
    images = torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous().to(device)   # (N, C, H, W)
    seen = {}

    def forward(inputs):   # the model, keeping the logits of captum's own forward pass
        outputs = model(inputs)
        seen["logits"] = outputs.detach().float().cpu().numpy()                 # (N, num_classes)
        if class_indices is not None:
            _targets(seen["logits"], class_indices)   # a clear ValueError before captum picks the classes
        return outputs

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(False), torch.enable_grad():
            if class_indices is None:   # the predictions first: one more forward pass
                with torch.no_grad():
                    forward(images)
            classes = _targets(seen["logits"], None) if class_indices is None else class_indices
            images.requires_grad_(True)  # a graph to the layer even when every parameter is frozen
            maps = LayerGradCam(forward, layer).attribute(images, target=[int(c) for c in np.ravel(classes)],
                                                          relu_attributions=True)  # (N, 1, h, w)
            classes = _targets(seen["logits"], classes)
    finally:
        model.train(was_training)
    if maps.ndim != 4:
        raise GradCamUnavailable(f"the Grad-CAM layer's output has shape {tuple(maps.shape)}, not (N, 1, h, w): "
                                 f"name a convolutional layer")
    return maps[:, 0].detach().float().cpu().numpy(), seen["logits"], classes


def _keras_maps(model, batch: np.ndarray, layer, class_indices):
    import keras
    import tensorflow as tf

    grad_model = keras.Model(model.inputs[0], [layer.output, model.outputs[0]])
    if len(layer.output.shape) != 4:
        raise GradCamUnavailable(f"the Grad-CAM layer {layer.name!r} outputs {tuple(layer.output.shape)}, not "
                                 f"(N, h, w, channels): name a convolutional layer")
    with tf.GradientTape() as tape:
        activations, logits = grad_model(tf.constant(batch), training=False)  # (N, h, w, K), (N, num_classes)
        classes = _targets(logits.numpy(), class_indices)
        scores = tf.gather(logits, classes, axis=1, batch_dims=1)           # (N,) each image's explained logit
    gradients = tape.gradient(scores, activations)                          # (N, h, w, K)
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)         # (N, 1, 1, K): one per channel
    maps = tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1))        # (N, h, w)
    return maps.numpy(), logits.numpy(), classes


# ---------------------------------------------------------------------------------------------------- numpy
def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits.astype(np.float64) - logits.max(axis=1, keepdims=True))
    return (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)


def _interpolation(source: int, target: int) -> np.ndarray:
    """(target, source) bilinear weights, half-pixel centres (as tf.image.resize and F.interpolate)."""
    position = np.clip((np.arange(target) + 0.5) * source / target - 0.5, 0, source - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, source - 1)
    matrix = np.zeros((target, source), dtype=np.float64)
    np.add.at(matrix, (np.arange(target), low), 1 - (position - low))
    np.add.at(matrix, (np.arange(target), high), position - low)
    return matrix


def resize(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a (h, w) map to size = (H, W); float32."""
    heatmap = np.asarray(heatmap, dtype=np.float64)
    rows, columns = _interpolation(heatmap.shape[0], size[0]), _interpolation(heatmap.shape[1], size[1])
    return (rows @ heatmap @ columns.T).astype(np.float32)


def normalise(heatmap: np.ndarray) -> np.ndarray:
    """Scale a non-negative map to [0, 1] by its maximum; an all-zero map stays zero."""
    peak = float(heatmap.max()) if heatmap.size else 0.0
    return (heatmap / peak if peak > 0 else np.zeros_like(heatmap)).astype(np.float32)
