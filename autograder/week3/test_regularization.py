"""Week 3 · regularization.py: label smoothing, decoupled weight decay (AdamW is not L2), dropout."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from shared.grading.checks import expect_close, expect_shape, expect_true
from shared.grading.target import exercise

regularization = exercise("week3", "regularization")


@pytest.mark.points(2)
def test_label_smoothing_cross_entropy():
    torch.manual_seed(0)
    logits, targets = torch.randn(16, 5) * 3, torch.randint(0, 5, (16,))
    for smoothing in (0.0, 0.1, 0.3):
        got = regularization.label_smoothing_cross_entropy(logits, targets, smoothing)
        expect_close(f"smoothed cross-entropy with smoothing={smoothing}", got,
                     F.cross_entropy(logits, targets, label_smoothing=smoothing), atol=1e-5,
                     hint="the target puts smoothing/K on every class, including the true one")
    big = regularization.label_smoothing_cross_entropy(torch.tensor([[1000.0, 0.0, -1000.0]]), torch.tensor([0]), 0.1)
    expect_true(torch.isfinite(torch.as_tensor(big)).all().item(),
                "extreme logits gave inf/nan: use log_softmax rather than log(softmax(...))")


def _zero_gradient_step(decoupled: bool) -> torch.Tensor:
    model = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 100.0]]))
    optimizer = regularization.make_optimizer(model, lr=0.1, weight_decay=0.01, decoupled=decoupled)
    optimizer.zero_grad()
    (model.weight * 0.0).sum().backward()          # the data says nothing: only the decay acts
    optimizer.step()
    return model.weight.detach()[0]


@pytest.mark.points(2)
def test_adamw_decay_is_decoupled_from_the_gradient():
    decoupled = _zero_gradient_step(True)
    expect_close("AdamW weights after one step with zero loss gradient (w * (1 - lr * wd))", decoupled,
                 torch.tensor([0.999, 99.9]), atol=1e-4,
                 hint="decoupled decay shrinks each weight in proportion to itself; did you use Adam with L2?")
    coupled = _zero_gradient_step(False)
    expect_close("Adam + L2 weights after one step with zero loss gradient", coupled, torch.tensor([0.9, 99.9]),
                 atol=1e-3, hint="L2 in the gradient goes through Adam's normalisation: every weight moves by ~lr")


@pytest.mark.points(1)
def test_biases_are_not_decayed():
    model = nn.Linear(2, 1)
    with torch.no_grad():
        model.bias.fill_(5.0)
    optimizer = regularization.make_optimizer(model, lr=0.1, weight_decay=0.5, decoupled=True)
    optimizer.zero_grad()
    (model(torch.zeros(1, 2)) * 0.0).sum().backward()
    optimizer.step()
    expect_close("bias after a zero-gradient AdamW step", model.bias.detach(), torch.tensor([5.0]), atol=1e-6,
                 hint="put biases (and norm parameters, ndim < 2) in a parameter group with weight_decay=0")


@pytest.mark.points(1)
def test_dropout_only_in_training():
    torch.manual_seed(0)
    model = regularization.RegularizedNet(4, (8, 8, 3), hidden=64, dropout_rate=0.5)
    images = torch.randn(5, 3, 8, 8)
    model.train()
    first, second = model(images), model(images)
    expect_shape("RegularizedNet output", first, (5, 4))
    expect_true(not torch.allclose(first, second), "with dropout_rate=0.5, two forward passes in train mode should differ")
    model.eval()
    expect_close("two forward passes in eval mode", model(images), model(images), atol=0,
                 hint="dropout must be off in eval mode: use nn.Dropout, not F.dropout(training=True)")
