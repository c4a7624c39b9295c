"""The PyTorch backbone layer: lite0 weights mapping, ImageNet sanity on real photos, head helpers, offline errors."""
from __future__ import annotations

import copy
import socket
import urllib.error

import pytest
import torch
from skimage import data

from shared import registry
from shared.backbones import IMAGENET_MEAN, IMAGENET_STD, preprocessing_for
from shared.backbones import torch_backbones as tb

CAT_CLASSES = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}
COFFEE_CLASSES = {"espresso", "cup", "coffee mug"}


@pytest.fixture(scope="module")
def lite0():
    return tb.create_backbone("efficientnet_lite0")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty torch hub cache, no sockets, and a downloader that fails like a machine without network."""
    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    return tmp_path


def test_lite0_key_mapping_is_complete():
    package = tb.load_lite0_package_state_dict()
    model = tb.create_backbone("efficientnet_lite0", pretrained=False).model
    mapped = tb.map_lite0_state_dict(package, model)
    assert set(mapped) == set(model.state_dict())
    assert len(mapped) == len(package)

    missing = dict(package)
    del missing["_blocks.7._project_conv.weight"]  # flat block 7 = stage 3, block 2
    with pytest.raises(ValueError, match=r"model keys with no weights: blocks\.3\.2\.conv_pwl\.weight"):
        tb.map_lite0_state_dict(missing, model)
    extra = {**package, "_blocks.99._se_reduce.weight": torch.zeros(1)}
    with pytest.raises(ValueError, match=r"unmapped file keys: _blocks\.99\._se_reduce\.weight"):
        tb.map_lite0_state_dict(extra, model)
    wrong = {**package, "_fc.bias": torch.zeros(10)}
    with pytest.raises(ValueError, match=r"shape mismatches: classifier\.bias"):
        tb.map_lite0_state_dict(wrong, model)


@pytest.mark.parametrize("photo, expected", [("chelsea", CAT_CLASSES), ("coffee", COFFEE_CLASSES)])
def test_lite0_classifies_real_photos(lite0, photo, expected):
    top5 = tb.classify_imagenet(lite0, getattr(data, photo)())
    assert len(top5) == 5 and top5[0][0] in expected, top5
    assert top5[0][1] > 0.3 and sum(p for _, p in top5) <= 1.0 + 1e-6


@pytest.mark.parametrize("name, framework, mean, std", [
    ("efficientnet_lite0", "torch", (0.5,) * 3, (0.5,) * 3),
    ("resnet18", "torch", IMAGENET_MEAN, IMAGENET_STD),
    ("mobilenet_v3_small", "torch", IMAGENET_MEAN, IMAGENET_STD),
    ("efficientnet_b0", "torch", IMAGENET_MEAN, IMAGENET_STD),
    ("efficientnet_lite0", "keras", (0.5,) * 3, (0.5,) * 3),
    ("mobilenetv2", "keras", (0.5,) * 3, (0.5,) * 3),
    ("efficientnetb0", "keras", (0.0,) * 3, (1 / 255,) * 3),
])
def test_preprocessing_per_backbone(name, framework, mean, std):
    preprocessing = preprocessing_for(name, framework)
    assert (preprocessing.size, preprocessing.mean, preprocessing.std) == (224, mean, std)
    assert registry.get_entry(name, framework).info["preprocessing"] == preprocessing
    assert preprocessing_for(name, framework, size=96).size == 96


def test_lite0_backbone_bundle(lite0):
    assert lite0.preprocessing == preprocessing_for("efficientnet_lite0", "torch")
    assert lite0.feature_dim == 1280 and not lite0.model.training


def test_head_helpers(lite0):
    model = tb.replace_head(copy.deepcopy(lite0.model), num_classes=10)
    head, rest = tb.head_parameters(model), tb.backbone_parameters(model)
    assert [tuple(p.shape) for p in head] == [(10, 1280), (10,)]
    assert len(head) + len(rest) == len(list(model.parameters()))
    in_blocks = {id(p) for block in tb.blocks(model) for p in block.parameters()}
    assert in_blocks == {id(p) for p in rest}
    images = torch.zeros(2, 3, 96, 96)  # (B, C, H, W): any size works, the model pools globally
    assert model.eval()(images).shape == (2, 10)
    assert tb.feature_extractor(model)(images).shape == (2, 1280)


@pytest.mark.parametrize("name, feature_dim", [("resnet18", 512), ("mobilenet_v3_small", 1024),
                                               ("efficientnet_b0", 1280)])
def test_torchvision_layouts(name, feature_dim):
    backbone = tb.create_backbone(name, pretrained=False)
    model = backbone.model
    assert backbone.feature_dim == feature_dim
    in_blocks = {id(p) for block in tb.blocks(model) for p in block.parameters()}
    assert in_blocks == {id(p) for p in tb.backbone_parameters(model)}
    assert tb.replace_head(model, 3).eval()(torch.zeros(1, 3, 64, 64)).shape == (1, 3)


@pytest.mark.parametrize("name", tb.TORCHVISION_NAMES)
def test_offline_download_error_names_url_and_path(offline, name):
    import torchvision

    url = torchvision.models.get_model_weights(name).DEFAULT.url
    expected_path = offline / "hub" / "checkpoints" / url.rsplit("/", 1)[-1]
    with pytest.raises(RuntimeError) as error:
        registry.create_model(name, num_classes=10, input_shape=(32, 32, 3))
    assert url in str(error.value) and str(expected_path) in str(error.value)


def test_cached_checkpoint_is_used_without_network(offline):
    url = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    path = tb.checkpoint_path(url)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    assert tb.ensure_checkpoint(url) == path


def test_registered_builders():
    assert {"efficientnet_lite0", "resnet18", "mobilenet_v3_small", "efficientnet_b0"} <= set(
        registry.list_models("torch"))
    entry = registry.get_entry("efficientnet_lite0", "torch")
    assert entry.impl == "reference" and entry.info["offline"]
    model = registry.create_model("efficientnet_lite0", num_classes=4, input_shape=(32, 32, 3))
    assert model.training and model.eval()(torch.zeros(1, 3, 32, 32)).shape == (1, 4)
    with pytest.raises(ValueError, match="3 channels"):
        registry.create_model("efficientnet_lite0", num_classes=4, input_shape=(32, 32, 1))
