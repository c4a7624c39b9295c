"""Grad-CAM (shared/interpret): it points at the object, and both frameworks agree on the same weights.

The model and image where the answer is known: a small CNN trained for a few seconds to tell circles from crosses
in the embedded `shapes` data, whose generator also returns where each shape is drawn. Thresholds come from 9 seeds
(SEED = 0..8, this file's data and training; test accuracy 0.92-1.00 on each). The mean heat on the shape was
2.28-3.11 times the heat off it (median over 200 test images), the heatmap's peak fell on the shape (within 2 px)
for 0.56-0.89 of the images, and each image's own heatmap beat another image's by 0.20-0.38 in that share. Wrong
heatmaps (transposed, flipped upside down, another image's) scored 0.79-1.62 times and 0.33-0.59 of the images.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import torch
from torch import nn

from shared.data.shapes import CLASS_NAMES, generate_with_masks
from shared.interpret.gradcam import GRADCAM_KEY, GradCamUnavailable, gradcam, gradcams, layer_for, resize, target_layer
from shared.interpret.overlay import data_url, overlay, overlay_png
from shared.registry import create_model, get_entry, list_models

CLASSES = ("circle", "cross")
IMAGE_SIZE, TRAIN, TEST, SEED = 32, 1200, 200, 0
SMALL = dict(widths=(8, 16, 32), hidden_units=32, dropout_rate=0.0)   # the week-2 CNN, narrower
MEAN, STD = 0.5, 0.25
TOLERANCE_PX = 2   # Grad-CAM's cells are 4 px wide at this layer: a peak 2 px off the edge still points at it


def _two_classes(count: int, seed: int):
    images, labels, masks = generate_with_masks(count * 6, IMAGE_SIZE, seed)   # 10 classes: keep 2, ~1.2 * count
    keep = np.isin(labels, [CLASS_NAMES.index(name) for name in CLASSES])
    images, labels, masks = images[keep][:count], labels[keep][:count], masks[keep][:count]
    labels = (labels == CLASS_NAMES.index(CLASSES[1])).astype(np.int64)
    return (images.astype(np.float32) / 255 - MEAN) / STD, labels, masks > 0.5


@pytest.fixture(scope="module")
def shapes():
    pixels, labels, masks = _two_classes(TRAIN + TEST, SEED)
    return {"train": (pixels[:TRAIN], labels[:TRAIN]), "test": (pixels[TRAIN:], labels[TRAIN:], masks[TRAIN:])}


@pytest.fixture(scope="module")
def trained(shapes):
    """The week-2 CNN (reference registry entry), trained 4 epochs on 1,200 images; ~2 s on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # tiny convolutions: one thread is ~9x faster than two on a busy 2-core machine
    try:
        torch.manual_seed(SEED)
        model = create_model("cnn", num_classes=len(CLASSES), input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3), **SMALL)
        pixels, labels = shapes["train"]
        images = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()
        targets = torch.from_numpy(labels)
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        order = torch.Generator().manual_seed(SEED)
        for _ in range(4):
            model.train()
            for batch in torch.randperm(TRAIN, generator=order).split(32):
                loss = nn.functional.cross_entropy(model(images[batch]), targets[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


def test_shape_masks_come_with_the_same_pixels():
    from shared.data.shapes import generate

    images, labels, masks = generate_with_masks(40, 24, seed=3)
    plain_images, plain_labels = generate(40, 24, seed=3)
    assert np.array_equal(images, plain_images) and np.array_equal(labels, plain_labels)
    assert masks.shape == (40, 24, 24) and masks.min() >= 0 and masks.max() <= 1
    area = (masks > 0.5).mean(axis=(1, 2))
    assert area.min() > 0.03 and area.max() < 0.6, "each image shows one shape of a sensible size"


def _pointing(heatmaps: list[np.ndarray], masks: np.ndarray) -> tuple[float, float, float]:
    """(share of peaks on the shape (within TOLERANCE_PX), that share by chance, median heat ratio on/off shape)."""
    near = np.stack([scipy.ndimage.binary_dilation(mask, iterations=TOLERANCE_PX) for mask in masks])
    peaks = [np.unravel_index(np.argmax(heat), heat.shape) for heat in heatmaps]
    hits = np.mean([near[i][peak] for i, peak in enumerate(peaks)])
    ratios = [heat[mask].mean() / max(heat[~mask].mean(), 1e-6) for heat, mask in zip(heatmaps, masks)]
    return float(hits), float(near.mean()), float(np.median(ratios))


def _torch_cams(model, pixels, classes):
    return gradcams(model, pixels, layer_for(get_entry("cnn", "torch"), model), "torch", class_indices=classes)


def test_heatmap_is_highest_on_the_shape(trained, shapes):
    pixels, labels, masks = shapes["test"]
    with torch.no_grad():
        accuracy = (trained(torch.from_numpy(pixels).permute(0, 3, 1, 2)).argmax(1).numpy() == labels).mean()
    assert accuracy >= 0.85, f"the test's CNN did not learn circle vs cross (test accuracy {accuracy:.2f}): " \
                             f"the training in the `trained` fixture is broken, not Grad-CAM"
    cams = _torch_cams(trained, pixels, labels)
    heatmaps = [cam.heatmap for cam in cams]
    assert all(h.shape == (IMAGE_SIZE, IMAGE_SIZE) and h.dtype == np.float32 and np.isfinite(h).all()
               and h.min() >= 0 and h.max() == 1 for h in heatmaps), "heatmaps must be finite (H, W), max 1"
    hits, chance, ratio = _pointing(heatmaps, masks)
    shuffled_hits, _, _ = _pointing(heatmaps[1:] + heatmaps[:1], masks)    # each image scored with another's map
    assert ratio >= 2.0 and hits >= 0.5 and hits >= shuffled_hits + 0.15, (
        f"the heat on the shape is {ratio:.2f}x the heat off it and the peak is on the shape for {hits:.2f} of the "
        f"images ({shuffled_hits:.2f} with another image's heatmap, {chance:.2f} by chance); expected >= 2.0x and "
        f">= 0.5, 0.15 above another image's. Flipped or transposed axes, the gradient of the wrong class, or a "
        f"layer after the spatial pooling give this.")


def test_keras_twin_with_copied_weights_gives_the_same_heatmaps(trained, shapes):
    from keras import layers

    keras_model = create_model("cnn", "keras", num_classes=len(CLASSES), input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3),
                               **SMALL)
    copy_cnn_weights(trained, keras_model, layers)
    pixels, labels, _ = shapes["test"]
    pixels, labels = pixels[:40], labels[:40]
    torch_cams = _torch_cams(trained, pixels, labels)
    keras_cams = gradcams(keras_model, pixels, layer_for(get_entry("cnn", "keras"), keras_model), "keras",
                          class_indices=labels)
    for index, (ours, theirs) in enumerate(zip(torch_cams, keras_cams)):
        np.testing.assert_allclose(ours.probabilities, theirs.probabilities, atol=1e-4,
                                   err_msg=f"image {index}: the twins disagree on the predictions: weights not copied")
        np.testing.assert_allclose(ours.layer_map, theirs.layer_map, rtol=1e-3, atol=1e-4 * ours.layer_map.max(),
                                   err_msg=f"image {index}: the layer-resolution Grad-CAM maps differ")
        np.testing.assert_allclose(ours.heatmap, theirs.heatmap, atol=1e-3,
                                   err_msg=f"image {index}: the torch and keras heatmaps differ")
    # the test can fail: explaining the other class changes the map
    other = gradcams(keras_model, pixels[:1], layer_for(get_entry("cnn", "keras"), keras_model), "keras",
                     class_indices=1 - labels[:1])[0]
    assert np.abs(other.heatmap - keras_cams[0].heatmap).max() > 0.1


def copy_cnn_weights(torch_model: nn.Module, keras_model, layers) -> None:
    """Week 2's CNN -> its Keras twin: conv (out, in, kh, kw) -> (kh, kw, in, out); BatchNorm's four tensors;
    dense (out, in) -> (in, out), the first one reordered because torch flattens (C, h, w) and Keras (h, w, C)."""
    def of(kind):
        return [layer for layer in keras_model.layers if isinstance(layer, kind)]

    convs = [m for m in torch_model.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in torch_model.modules() if isinstance(m, nn.BatchNorm2d)]
    linears = [m for m in torch_model.modules() if isinstance(m, nn.Linear)]
    for source, target in zip(convs, of(layers.Conv2D), strict=True):
        target.set_weights([source.weight.detach().numpy().transpose(2, 3, 1, 0)])
    for source, target in zip(norms, of(layers.BatchNormalization), strict=True):
        target.set_weights([t.detach().numpy() for t in (source.weight, source.bias, source.running_mean,
                                                          source.running_var)])
    _, height, width, channels = of(layers.Flatten)[0].input.shape
    for index, (source, target) in enumerate(zip(linears, of(layers.Dense), strict=True)):
        weight = source.weight.detach().numpy()                                         # (out, in)
        if index == 0:   # columns in torch's (C, h, w) order -> rows in Keras' (h, w, C) order
            weight = weight.reshape(-1, channels, height, width).transpose(0, 2, 3, 1).reshape(len(weight), -1)
        target.set_weights([weight.T, source.bias.detach().numpy()])


# ---------------------------------------------------------------------------------------------------- layers
def _check_layers(framework: str, names: list[str]) -> None:
    import inspect

    shape = (32, 32, 3)
    batch = np.zeros((1, *shape), np.float32)
    for name in names:
        entry = get_entry(name, framework)
        options = {"pretrained": False} if "pretrained" in inspect.signature(entry.builder).parameters else {}
        model = entry.builder(num_classes=3, input_shape=shape, **options)
        cam = gradcams(model, batch, layer_for(entry, model), framework)[0]
        assert cam.heatmap.shape == shape[:2] and cam.layer_map.ndim == 2, f"{name} ({framework})"


def test_the_cnns_of_weeks_2_and_3_name_their_gradcam_layer():
    _check_layers("torch", ["cnn", "resnet_cnn"])
    _check_layers("keras", ["cnn"])
    assert GRADCAM_KEY not in get_entry("lstm", "torch").info   # not a conv net: the API says so (see below)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_every_pretrained_backbone_names_its_gradcam_layer(framework):
    """Every reference model with spatial features (all but the LSTM) names a layer that has them (untrained)."""
    names = [name for name in list_models(framework) if name not in ("lstm", "cnn", "resnet_cnn")]
    assert "transfer_lite0" in names
    _check_layers(framework, names)


def test_a_model_without_a_gradcam_layer_says_how_to_add_one():
    entry = get_entry("lstm", "torch")
    with pytest.raises(GradCamUnavailable, match="gradcam_layer=.*@register_model"):
        layer_for(entry, entry.builder(num_classes=3, input_shape=(8, 8, 1)))


def test_layer_specs_resolve_and_bad_ones_say_what_exists():
    model = create_model("cnn", num_classes=3, input_shape=(16, 16, 3), **SMALL)
    assert target_layer(model, "features.-1.2", "torch") is model.features[2][2]
    assert target_layer(model, "features.2.2", "torch") is model.features[2][2]
    assert target_layer(model, ("Conv2d", -1), "torch") is model.features[2][0]
    with pytest.raises(GradCamUnavailable, match="children: features, classifier"):
        target_layer(model, "feature.2", "torch")
    with pytest.raises(GradCamUnavailable, match=r"3 children, no \[5\]"):
        target_layer(model, "features.5", "torch")
    with pytest.raises(GradCamUnavailable, match="0 GELU layers"):
        target_layer(model, ("GELU", -1), "torch")
    with pytest.raises(GradCamUnavailable, match="not .N, 1, h, w."):   # a layer after the flatten: no map
        gradcam(model, np.zeros((16, 16, 3), np.float32), model.classifier[2], "torch")


def test_gradcam_restores_the_mode_and_leaves_gradients_alone():
    model = create_model("cnn", num_classes=3, input_shape=(16, 16, 3), **SMALL).train()
    model.requires_grad_(False)   # a frozen backbone is still explained: the graph starts at the input
    pixels = np.random.default_rng(0).normal(size=(16, 16, 3)).astype(np.float32)
    cam = gradcam(model, pixels, target_layer(model, "features.-1.2", "torch"), "torch", class_index=2)
    assert cam.class_index == 2 and model.training and all(p.grad is None for p in model.parameters())
    assert np.isclose(cam.probabilities.sum(), 1, atol=1e-5)
    with pytest.raises(ValueError, match="one class in 0..2"):
        gradcam(model, pixels, target_layer(model, "features.-1.2", "torch"), "torch", class_index=3)
    with torch.no_grad():
        model.features[0][0].weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf"):
        gradcam(model, pixels, target_layer(model, "features.-1.2", "torch"), "torch")


# ---------------------------------------------------------------------------------------------------- overlay
def test_overlay_colours_only_where_the_heat_is():
    image = np.full((32, 32, 3), 128, np.uint8)
    heat = np.zeros((8, 8), np.float32)
    heat[:4, :4] = 1.0                       # top-left quarter hot
    drawn = overlay(image, heat)
    assert drawn.shape == (224, 224, 3) and drawn.dtype == np.uint8      # enlarged 7x, nearest-neighbour
    assert (drawn[-40:, -40:] == 128).all(), "no heat: the image must show through unchanged"
    assert np.abs(drawn[:40, :40].astype(int) - 128).max() > 40, "full heat must colour the image"
    png = overlay_png(image, heat)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and data_url(png).startswith("data:image/png;base64,")
    with pytest.raises(ValueError, match="finite"):
        overlay(image, np.full((8, 8), np.nan, np.float32))


def test_resize_matches_bilinear_with_half_pixel_centres():
    tf = pytest.importorskip("tensorflow")
    heat = np.random.default_rng(0).random((5, 7)).astype(np.float32)
    expected = tf.image.resize(heat[..., None], (32, 24), method="bilinear").numpy()[..., 0]
    np.testing.assert_allclose(resize(heat, (32, 24)), expected, atol=1e-5)


def test_explain_answers_what_the_api_returns():
    from shared.interpret.explain import explain

    entry = get_entry("cnn", "torch")
    model = create_model("cnn", num_classes=3, input_shape=(16, 16, 3), **SMALL)
    photo = np.random.default_rng(1).integers(0, 256, (40, 30, 3), dtype=np.uint8)   # the upload, another size
    pixels = np.random.default_rng(2).normal(size=(16, 16, 3)).astype(np.float32)   # what the model sees
    answer = explain(entry, model, pixels, photo, ["a", "b", "c"], class_index=1)
    assert answer["class_index"] == 1 and answer["label"] == "b" and answer["layer"] == "features.2.2"
    assert answer["overlay"].startswith("data:image/png;base64,")
    keras_entry = get_entry("cnn", "keras")
    keras_model = keras_entry.builder(num_classes=3, input_shape=(16, 16, 3), **SMALL)
    assert explain(keras_entry, keras_model, pixels, photo, ["a", "b", "c"])["layer"].startswith("re_lu")
    with pytest.raises(GradCamUnavailable, match="names no Grad-CAM layer"):
        explain(get_entry("lstm", "torch"), None, pixels, photo, ["a", "b", "c"])
