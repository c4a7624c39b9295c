"""The Keras backbone layer: the lite0 port matches PyTorch, classifies real photos, helpers, offline errors."""
from __future__ import annotations

import socket
import urllib.error

import numpy as np
import pytest
import torch
from skimage import data

from shared import registry
from shared.backbones import classify_imagenet, prepare_image, preprocessing_for
from shared.backbones import keras_backbones as kb
from shared.backbones import torch_backbones as tb

CAT_CLASSES = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}
COFFEE_CLASSES = {"espresso", "cup", "coffee mug"}


@pytest.fixture(scope="module")
def keras_lite0():
    return kb.create_keras_backbone("efficientnet_lite0")  # built once: ~2 s


@pytest.fixture(scope="module")
def torch_lite0():
    return tb.create_backbone("efficientnet_lite0")


def torch_logits(backbone, images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return backbone.model(torch.from_numpy(images).permute(0, 3, 1, 2)).numpy()  # NHWC -> NCHW


@pytest.mark.parametrize("photo", ["chelsea", "coffee", "noise"])
def test_lite0_logits_match_pytorch(keras_lite0, torch_lite0, photo):
    if photo == "noise":
        images = np.random.default_rng(0).uniform(-1, 1, (2, 224, 224, 3)).astype(np.float32)
    else:
        images = prepare_image(getattr(data, photo)(), keras_lite0.preprocessing)[None]  # (1, 224, 224, 3)
    expected = torch_logits(torch_lite0, images)
    logits = np.asarray(keras_lite0.model(images, training=False))
    assert logits.shape == expected.shape
    np.testing.assert_allclose(logits, expected, atol=1e-3, rtol=0)


@pytest.mark.parametrize("photo, expected", [("chelsea", CAT_CLASSES), ("coffee", COFFEE_CLASSES)])
def test_keras_lite0_classifies_real_photos(keras_lite0, photo, expected):
    top5 = classify_imagenet(keras_lite0, getattr(data, photo)())
    assert len(top5) == 5 and top5[0][0] in expected, top5


def test_weight_port_reports_problems(keras_lite0, torch_lite0):
    state = torch_lite0.model.state_dict()
    missing = {k: v for k, v in state.items() if not k.startswith("blocks.6.0.bn3.")}
    with pytest.raises(ValueError, match="Keras layers with no weights: blocks_6_0_bn3"):
        kb.load_lite0_weights_from_torch(keras_lite0.model, missing)
    extra = {**state, "blocks.9.0.conv_pw.weight": torch.zeros(1, 1, 1, 1)}
    with pytest.raises(ValueError, match="torch tensors with no Keras layer: blocks_9_0_conv_pw"):
        kb.load_lite0_weights_from_torch(keras_lite0.model, extra)
    wrong = {**state, "classifier.bias": torch.zeros(7)}
    with pytest.raises(ValueError, match="classifier: torch"):
        kb.load_lite0_weights_from_torch(keras_lite0.model, wrong)
    kb.load_lite0_weights_from_torch(keras_lite0.model, state)  # restores the shared fixture


def test_keras_helpers(keras_lite0):
    model = keras_lite0.model
    assert keras_lite0.feature_dim == 1280
    assert keras_lite0.preprocessing == preprocessing_for("efficientnet_lite0", "keras")
    transfer = kb.replace_head(model, num_classes=10)
    assert transfer.output_shape == (None, 10)
    assert [layer.name for layer in kb.head_layers(transfer)] == ["classifier_new"]
    grouped = [layer for block in kb.blocks(transfer) for layer in block]
    assert len(kb.blocks(transfer)) == 9  # stem, 7 stages, top conv: as torch_backbones.blocks
    assert {id(layer) for layer in grouped} == {id(layer) for layer in kb.backbone_layers(transfer)}
    assert kb.feature_extractor(transfer).output_shape == (None, 1280)


@pytest.mark.parametrize("name", ["mobilenetv2", "efficientnetb0"])
def test_applications_layouts(name):
    backbone = kb.create_keras_backbone(name, num_classes=3, input_size=96, pretrained=False)
    assert backbone.feature_dim == 1280 and backbone.model.output_shape == (None, 3)
    trainable = [layer for layer in kb.backbone_layers(backbone.model) if layer.trainable_weights]
    grouped = {id(layer) for block in kb.blocks(backbone.model) for layer in block}
    assert {id(layer) for layer in trainable} <= grouped


@pytest.mark.parametrize("name", ["mobilenetv2", "efficientnetb0"])
def test_offline_download_error_names_url_and_path(monkeypatch, tmp_path, name):
    from keras.src.utils import file_utils

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(file_utils, "urlretrieve", refuse)
    _, file_name, _ = kb.APPLICATIONS[name]
    with pytest.raises(RuntimeError) as error:
        registry.create_model(name, framework="keras", num_classes=10, input_shape=(96, 96, 3))
    assert kb.APPLICATIONS_URLS[name] + file_name in str(error.value)
    assert str(tmp_path / "models" / file_name) in str(error.value)


def test_registered_keras_builders():
    assert {"efficientnet_lite0", "mobilenetv2", "efficientnetb0"} <= set(registry.list_models("keras"))
    entry = registry.get_entry("efficientnet_lite0", "keras")
    assert entry.impl == "reference" and entry.info["offline"]
    with pytest.raises(ValueError, match="square RGB"):
        registry.create_model("efficientnet_lite0", framework="keras", num_classes=4, input_shape=(32, 32, 1))
