"""Week 4 · heads.py: the head is found by type, replaced for N classes, and the preprocessing is the backbone's.

The pretrained Lite0 is built once per module (at 32 x 32 px, which keeps every forward pass cheap).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from shared.backbones import torch_backbones
from shared.grading.checks import expect_shape, expect_true, fail
from shared.grading.target import exercise

heads = exercise("week4", "heads")

NUM_CLASSES, IMAGE_SIZE = 5, 32
IMAGENET_MEAN = (0.485, 0.456, 0.406)


@pytest.fixture(scope="module")
def built():
    """(model, preprocessing) from the learner's build_transfer_model, or the NotImplementedError of a stub."""
    try:
        return heads.build_transfer_model(NUM_CLASSES, image_size=IMAGE_SIZE)
    except NotImplementedError as error:  # re-raised inside each test: "not started", not a setup error
        return error


def _built(built):
    if isinstance(built, BaseException):
        raise built
    if not (isinstance(built, tuple) and len(built) == 2):
        fail(f"build_transfer_model must return (model, preprocessing), got {type(built).__name__}")
    return built


def _toy() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 4, 6), nn.ReLU(), nn.Linear(6, 4))


@pytest.mark.points(1)
def test_find_head_is_the_last_linear():
    model = _toy()
    found = heads.find_head(model)
    expect_true(isinstance(found, tuple) and len(found) == 2, "find_head must return (name, module)")
    name, module = found
    expect_true(module is model[4], f"find_head returned {module}: the head is the *last* nn.Linear "
                                    f"(here Linear(6 -> 4), named '4'), not the first one")
    expect_true(name == "4", f"find_head returned the name {name!r}; expected '4' (its name in named_modules())")
    with pytest.raises(ValueError):
        heads.find_head(nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU()))


@pytest.mark.points(1)
def test_replace_head_keeps_the_rest():
    model = _toy()
    first_linear, conv_weight = model[2], model[0].weight.detach().clone()
    returned = heads.replace_head(model, 3)
    expect_true(returned is model, "replace_head must return the model it changed")
    new = model[4]
    if isinstance(new, nn.Linear) and new.in_features == 4 and new.out_features == 3:
        fail("the new head has in_features=4, the OLD head's out_features: it must read what the old head read, "
             "nn.Linear(old.in_features, num_classes) (here 6 features).")
    out = model(torch.zeros(2, 3, 6, 6))
    if out.shape[1] == 4:
        fail("the model still has 4 outputs: replace_head must put a new nn.Linear(in_features, num_classes) "
             "in place of the head (model.set_submodule(name, layer))")
    expect_shape("output after replace_head(model, 3)", out, (2, 3))
    expect_true(model[2] is first_linear and torch.equal(model[0].weight, conv_weight),
                "replace_head changed layers other than the head; it must only swap the last nn.Linear")
    expect_true(model[4].in_features == 6, f"the new head has in_features={model[4].in_features}; it must keep "
                                           f"the old head's 6 (the size of the features it reads)")


@pytest.mark.points(2)
def test_new_head_output_shape(built):
    model, _ = _built(built)
    try:
        with torch.no_grad():
            out = model.eval()(torch.rand(2, 3, IMAGE_SIZE, IMAGE_SIZE))
    except RuntimeError as error:
        if "mat1 and mat2" in str(error):
            fail(f"the model raised `{str(error)[:120]}`: its new head does not read the backbone's 1280 features. "
                 f"Give it the old head's in_features (not its out_features, 1000).")
        raise
    if out.shape == (2, 1000):
        fail(f"the model still outputs 1000 logits (ImageNet's classes): the head was left at 1000 classes. "
             f"Replace it with an nn.Linear of num_classes={NUM_CLASSES} outputs.")
    expect_shape(f"build_transfer_model({NUM_CLASSES}) output for (2, 3, {IMAGE_SIZE}, {IMAGE_SIZE})", out,
                 (2, NUM_CLASSES))
    expect_true(bool(torch.isfinite(out).all()), "the output has NaN or inf")


@pytest.mark.points(1)
def test_backbone_keeps_its_pretrained_weights(built):
    model, _ = _built(built)
    stem = torch_backbones.load_lite0_package_state_dict()["_conv_stem.weight"]  # (32, 3, 3, 3)
    matches = [p for p in model.parameters() if p.shape == stem.shape and torch.allclose(p.detach(), stem)]
    expect_true(bool(matches), "the backbone's first convolution does not hold the ImageNet weights: build it "
                               "with create_backbone(name, pretrained=True) and keep every layer but the head")


@pytest.mark.points(2)
def test_preprocessing_matches_the_backbone(built):
    _, preprocessing = _built(built)
    mean, std = np.asarray(preprocessing.mean, float), np.asarray(preprocessing.std, float)
    if np.allclose(mean, IMAGENET_MEAN, atol=1e-3):
        fail("the preprocessing uses the ImageNet mean/std (0.485, 0.456, 0.406), but EfficientNet-Lite0's "
             "weights expect pixels scaled to [-1, 1]: mean = std = (0.5, 0.5, 0.5). Take the normalisation from "
             "the backbone (`create_backbone(...).preprocessing`), not from a constant.")
    expect_true(np.allclose(mean, 0.5) and np.allclose(std, 0.5),
                f"preprocessing mean {tuple(mean)}, std {tuple(std)}; Lite0 expects mean = std = (0.5, 0.5, 0.5)")
    expect_true(preprocessing.size == IMAGE_SIZE,
                f"preprocessing.size is {preprocessing.size}; expected image_size={IMAGE_SIZE}")
