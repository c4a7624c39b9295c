"""Week 4 · feature_extraction.py: exactly the head trainable, BatchNorm statistics untouched, features cached.

One Lite0 (random weights: what is tested here does not depend on them) is built per module and copied per test.
"""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from shared.backbones import torch_backbones
from shared.grading.checks import expect_shape, expect_true, fail
from shared.grading.target import exercise

fe = exercise("week4", "feature_extraction")

NUM_CLASSES, IMAGE_SIZE = 4, 32


@pytest.fixture(scope="module")
def base() -> nn.Module:
    model = torch_backbones.create_backbone("efficientnet_lite0", pretrained=False).model
    return torch_backbones.replace_head(model, NUM_CLASSES)


@pytest.fixture
def model(base) -> nn.Module:
    return copy.deepcopy(base).train()


def _batches(count: int = 2, batch_size: int = 4, seed: int = 0) -> list:
    generator = torch.Generator().manual_seed(seed)
    return [(torch.randn(batch_size, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator),  # (B, C, H, W)
             torch.randint(0, NUM_CLASSES, (batch_size,), generator=generator)) for _ in range(count)]


def _batchnorm_state(model) -> dict:
    return {name: buffer.clone() for name, buffer in model.named_buffers() if "running" in name}


def check_only_head_trainable(model, stage: str) -> None:
    head = {id(p) for p in torch_backbones.head_parameters(model)}
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    norms = {id(p) for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) for p in m.parameters()}
    frozen = [p for p in model.parameters() if not p.requires_grad and id(p) not in norms]
    if not frozen:
        fail(f"{stage}: nothing is frozen — every convolution of the backbone still has requires_grad=True. Set "
             f"requires_grad=False on every backbone parameter.")
    if not trainable:
        fail(f"{stage}: everything is frozen, the new head too, so nothing can learn. Keep the head "
             f"(the last nn.Linear) trainable.")
    extra = [name for name, p in model.named_parameters() if p.requires_grad and id(p) not in head]
    expect_true(not extra, f"{stage}: backbone parameters are still trainable: {', '.join(extra[:4])}"
                           f"{' ...' if len(extra) > 4 else ''}")
    expect_true(head <= trainable, f"{stage}: the head's weight and bias must both be trainable")


@pytest.mark.points(2)
def test_freeze_leaves_exactly_the_head_trainable(model):
    returned = fe.freeze_backbone(model)
    expect_true(returned is model, "freeze_backbone must return the model it froze")
    check_only_head_trainable(model, "after freeze_backbone")
    trainable, total = fe.count_trainable(model)
    expect_true(trainable == NUM_CLASSES * 1281, f"{trainable} trainable values of {total}; the head of "
                                                 f"{NUM_CLASSES} classes has {NUM_CLASSES * 1281}")


@pytest.mark.points(1)
def test_set_batchnorm_eval(model):
    others = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    fe.set_batchnorm_eval(model)
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    training = sum(m.training for m in norms)
    expect_true(training == 0, f"{training} of {len(norms)} BatchNorm layers are still in train mode")
    expect_true(all(m.training for m in others), "set_batchnorm_eval changed the mode of non-BatchNorm layers")
    expect_true(not any(p.requires_grad for m in norms for p in m.parameters()),
                "BatchNorm weight and bias must be frozen too (requires_grad=False)")


@pytest.mark.points(1)
def test_trainable_parameters_are_what_the_optimizer_gets(model):
    fe.freeze_backbone(model)
    chosen = fe.trainable_parameters(model)
    expected = {id(p) for p in torch_backbones.head_parameters(model)}
    expect_true({id(p) for p in chosen} == expected and len(chosen) == len(expected),
                f"trainable_parameters returned {len(chosen)} tensors; expected the {len(expected)} with "
                f"requires_grad=True (the head's weight and bias)")


@pytest.mark.points(3)
def test_training_the_head_keeps_batchnorm_statistics(model):
    before_stats = _batchnorm_state(model)
    stem_before = model.conv_stem.weight.detach().clone()
    head_before = torch_backbones.head_parameters(model)[0].detach().clone()
    batches = _batches()
    fe.train_head(model, batches, batches[:1], epochs=1, learning_rate=1e-2, progress=False)
    check_only_head_trainable(model, "after train_head")
    changed = [name for name, value in _batchnorm_state(model).items() if not torch.equal(value, before_stats[name])]
    if changed:
        fail(f"BatchNorm running statistics changed while training the head ({len(changed)} buffers, e.g. "
             f"{changed[0]}): a frozen backbone's BatchNorm layers must be in eval mode (set_batchnorm_eval), "
             f"or every forward pass updates them.")
    expect_true(torch.equal(model.conv_stem.weight, stem_before), "a backbone weight changed during train_head")
    expect_true(not torch.equal(torch_backbones.head_parameters(model)[0], head_before),
                "the head's weights did not change: is the head trainable, and given to the optimizer?")


@pytest.mark.points(2)
def test_extract_features(model):
    batches = _batches(count=2, batch_size=3)
    head_before = torch_backbones.head_parameters(model)[0].detach().clone()
    modules_before = [type(m) for m in model.modules()]
    features, labels = fe.extract_features(model, batches)
    expect_true([type(m) for m in model.modules()] == modules_before and model.training,
                "extract_features changed the model it was given (its layers or its mode): remove the head from a "
                "copy (copy.deepcopy(model)) and leave the caller's model as it was")
    expect_shape("features", features, (6, 1280))
    expect_true(torch.equal(labels, torch.cat([y for _, y in batches])), "the labels must be the loader's, in order")
    reference = torch_backbones.feature_extractor(model).eval()
    with torch.no_grad():
        expected = torch.cat([reference(x) for x, _ in batches])
    expect_true(torch.allclose(features, expected, atol=1e-4),
                "the features differ from the backbone's pooled output in eval mode (head replaced by "
                "nn.Identity): check the mode (eval) and that the head is removed")
    expect_true(torch.equal(torch_backbones.head_parameters(model)[0], head_before) and model.training,
                "extract_features changed the model: work on a copy (copy.deepcopy) and leave its mode as it was")
