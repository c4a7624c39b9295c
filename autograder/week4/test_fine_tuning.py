"""Week 4 · fine_tuning.py: exactly the top blocks (minus BatchNorm) and the head trainable, and a lower
learning rate for the backbone than for the head, in two parameter groups."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from shared.backbones import torch_backbones
from shared.grading.checks import expect_true, fail
from shared.grading.target import exercise

ft = exercise("week4", "fine_tuning")
fe = exercise("week4", "feature_extraction")

NUM_CLASSES, IMAGE_SIZE, TOP = 4, 32, 2


@pytest.fixture(scope="module")
def base() -> nn.Module:
    model = torch_backbones.create_backbone("efficientnet_lite0", pretrained=False).model
    return torch_backbones.replace_head(model, NUM_CLASSES)


@pytest.fixture
def model(base) -> nn.Module:
    return copy.deepcopy(base).train()


def _is_norm(module) -> bool:
    return isinstance(module, nn.modules.batchnorm._BatchNorm)


def expected_trainable(model, top: int) -> set[int]:
    norm_params = {id(p) for m in model.modules() if _is_norm(m) for p in m.parameters()}
    blocks = torch_backbones.blocks(model)[len(torch_backbones.blocks(model)) - top:]
    chosen = {id(p) for block in blocks for p in block.parameters() if id(p) not in norm_params}
    return chosen | {id(p) for p in torch_backbones.head_parameters(model)}


@pytest.mark.points(3)
def test_unfreeze_top_blocks_exactly(model):
    returned = ft.unfreeze_top_blocks(model, TOP)
    expect_true(returned is model, "unfreeze_top_blocks must return the model")
    names = {id(p): name for name, p in model.named_parameters()}
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    expected = expected_trainable(model, TOP)
    if len(trainable) == len(names):
        fail("nothing is frozen after unfreeze_top_blocks: only the top blocks and the head may train")
    if not trainable:
        fail("everything is frozen after unfreeze_top_blocks: the top blocks and the head must train")
    norms = {id(p) for m in model.modules() if _is_norm(m) for p in m.parameters()}
    if trainable & norms:
        fail("BatchNorm weight/bias are trainable after unfreeze_top_blocks; this week keeps every BatchNorm "
             "frozen (parameters and statistics) in both stages — see set_batchnorm_eval")
    blocks = torch_backbones.blocks(model)
    bottom = {id(p) for block in blocks[:TOP] for p in block.parameters() if id(p) not in norms}
    if bottom and bottom <= trainable and not (expected - {id(p) for p in torch_backbones.head_parameters(model)}) & trainable:
        fail(f"unfreeze_top_blocks unfroze the bottom (first) {TOP} blocks instead of the top (last) {TOP}: the "
             f"blocks nearest the head hold the most task-specific features; take blocks[len(blocks) - num_blocks:].")
    missing = [names[i] for i in expected - trainable]
    extra = [names[i] for i in trainable - expected]
    expect_true(not missing, f"these should be trainable (top {TOP} blocks or head): {', '.join(missing[:4])}")
    expect_true(not extra, f"these should stay frozen (below the top {TOP} blocks): {', '.join(extra[:4])}")
    training = [m for m in model.modules() if _is_norm(m) and m.training]
    expect_true(not training, f"{len(training)} BatchNorm layers are in train mode after unfreeze_top_blocks")


@pytest.mark.points(1)
def test_unfreeze_zero_blocks_is_feature_extraction(model):
    ft.unfreeze_top_blocks(model, 0)
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    expect_true(trainable == {id(p) for p in torch_backbones.head_parameters(model)},
                "unfreeze_top_blocks(model, 0) must leave exactly the head trainable")
    with pytest.raises(ValueError):
        ft.unfreeze_top_blocks(model, len(torch_backbones.blocks(model)) + 1)


@pytest.mark.points(3)
def test_backbone_learning_rate_is_lower_than_the_head(model):
    ft.unfreeze_top_blocks(model, TOP)
    optimizer = ft.fine_tuning_optimizer(model, 1e-3)
    head = {id(p) for p in torch_backbones.head_parameters(model)}
    rates, seen = {}, []
    for group in optimizer.param_groups:
        for p in group["params"]:
            rates[id(p)] = group["lr"]
            seen.append(id(p))
    expect_true(len(seen) == len(set(seen)), "a parameter appears in more than one parameter group")
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    expect_true(set(seen) == trainable, f"the optimizer holds {len(set(seen))} tensors; it must hold exactly the "
                                        f"{len(trainable)} trainable ones")
    head_rates = {rates[i] for i in head}
    backbone_rates = {rates[i] for i in trainable - head}
    expect_true(head_rates == {1e-3}, f"the head's learning rate is {sorted(head_rates)}; expected 1e-3")
    if any(rate >= 1e-3 for rate in backbone_rates):
        fail(f"the backbone learns at {sorted(backbone_rates)}, as fast as the head (1e-3): use a separate "
             f"parameter group with a lower learning rate (e.g. 0.1x) for the pretrained layers")
    with pytest.raises(ValueError):
        ft.fine_tuning_optimizer(model, 1e-3, backbone_lr_factor=1.5)


@pytest.mark.points(2)
def test_a_fine_tuning_step_trains_the_top_and_keeps_batchnorm_statistics(model):
    ft.unfreeze_top_blocks(model, TOP)
    optimizer = ft.fine_tuning_optimizer(model, 1e-2)
    blocks = torch_backbones.blocks(model)
    top_before = [p.detach().clone() for p in blocks[-1].parameters()]
    low_before = [p.detach().clone() for p in blocks[0].parameters()]
    stats = {n: b.clone() for n, b in model.named_buffers() if "running" in n}
    guarded = fe.KeepBatchNormFrozen(model).train()  # what fine_tune trains: train() keeps BatchNorm in eval
    images, labels = torch.randn(4, 3, IMAGE_SIZE, IMAGE_SIZE), torch.tensor([0, 1, 2, 3])
    nn.functional.cross_entropy(guarded(images), labels).backward()
    optimizer.step()
    expect_true(any(not torch.equal(a, b) for a, b in zip(top_before, blocks[-1].parameters())),
                "a fine-tuning step did not change the top block")
    expect_true(all(torch.equal(a, b) for a, b in zip(low_before, blocks[0].parameters())),
                "a fine-tuning step changed the stem (the first block), which must stay frozen")
    changed = [n for n, b in model.named_buffers() if n in stats and not torch.equal(b, stats[n])]
    expect_true(not changed, f"BatchNorm running statistics changed during fine-tuning (e.g. {changed[:1]}): "
                             f"keep BatchNorm layers in eval mode")
