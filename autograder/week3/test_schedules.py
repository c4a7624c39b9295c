"""Week 3 · schedules.py: step decay, cosine with warmup, OneCycle (and their granularity), and the LR finder."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from shared.grading.checks import expect_close, expect_finite, expect_true, fail
from shared.grading.target import exercise

schedules = exercise("week3", "schedules")


def _optimizer(lr=0.1):
    return torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)


@pytest.mark.points(1)
def test_step_decay_is_per_epoch():
    schedule = schedules.step_decay(_optimizer(), step_size=2, gamma=0.5)
    expect_true(schedule.interval == "epoch", f"step decay counts epochs: interval should be 'epoch', got {schedule.interval!r}")
    lrs = schedules.lr_curve(lambda o: schedules.step_decay(o, step_size=2, gamma=0.5), epochs=5, steps_per_epoch=3)
    expected = [0.1] * 6 + [0.05] * 6 + [0.025] * 3
    expect_close("LR at each step of a 5-epoch run (3 steps per epoch)", lrs, expected, atol=1e-9)


@pytest.mark.points(2)
def test_cosine_with_warmup():
    schedule = schedules.cosine_with_warmup(_optimizer(), total_steps=100, warmup_steps=10)
    expect_true(schedule.interval == "batch", f"cosine with warmup counts optimizer steps: interval should be 'batch', "
                                              f"got {schedule.interval!r}")
    lrs = schedules.lr_curve(lambda o: schedules.cosine_with_warmup(o, total_steps=100, warmup_steps=10), 10, 10)
    expect_finite("LRs of cosine_with_warmup", lrs)
    warmup = lrs[:10]
    expect_true(all(b > a for a, b in zip(warmup, warmup[1:])) and 0 < warmup[0] < 0.05,
                f"during warmup the LR should rise from near 0 (but not exactly 0) towards 0.1, got {warmup}")
    expect_close("LR at the end of warmup (step 10)", lrs[10], 0.1, atol=1e-6)
    decay = lrs[10:]
    expect_true(all(b <= a + 1e-12 for a, b in zip(decay, decay[1:])), "after warmup the cosine LR must never rise")
    expect_close("LR halfway through the cosine (step 55)", lrs[55], 0.05, atol=2e-3)
    expect_true(lrs[-1] < 0.002, f"at the last step the LR should be near 0, got {lrs[-1]:.4g}")


@pytest.mark.points(1)
def test_cosine_ends_at_its_floor():
    lrs = schedules.lr_curve(lambda o: schedules.cosine_with_warmup(o, total_steps=100, warmup_steps=10,
                                                                    min_lr_ratio=0.1), 10, 10)
    expect_finite("LRs of cosine_with_warmup(min_lr_ratio=0.1)", lrs)
    if lrs[-1] < 0.005:
        fail(f"with min_lr_ratio=0.1 the LR should end near 0.1 x 0.1 = 0.01, got {lrs[-1]:.4g}: the cosine ignores "
             f"its floor. Decay to min_lr_ratio: factor = min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + cos(pi p)).")
    expect_close("LR at the last step with min_lr_ratio=0.1", lrs[-1], 0.01, atol=1e-3)
    expect_close("LR halfway through the cosine with min_lr_ratio=0.1 (0.1 x (0.1 + 0.9 / 2))", lrs[55], 0.055,
                 atol=2e-3)


@pytest.mark.points(1)
def test_one_cycle():
    schedule = schedules.one_cycle(_optimizer(), max_lr=0.1, total_steps=40)
    expect_true(schedule.interval == "batch", f"OneCycle is defined over optimizer steps: interval should be 'batch', "
                                              f"got {schedule.interval!r}")
    lrs = schedules.lr_curve(lambda o: schedules.one_cycle(o, max_lr=0.1, total_steps=40), 4, 10)
    expect_close("peak LR of OneCycle", max(lrs), 0.1, atol=1e-3)
    expect_true(lrs[0] < 0.02 and lrs[-1] < 1e-3, f"OneCycle starts low and ends far lower: got {lrs[0]:.3g} ... {lrs[-1]:.3g}")


def _blobs(n=96, seed=0):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 3, (n,), generator=generator)
    centres = torch.tensor([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])
    return centres[labels] + torch.randn(n, 2, generator=generator), labels


@pytest.mark.points(2)
def test_lr_range_test():
    torch.manual_seed(0)
    images, labels = _blobs()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels), batch_size=16, shuffle=True)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    result = schedules.lr_range_test(model, loader, optimizer, start_lr=1e-4, end_lr=10.0, num_steps=40)
    lrs, losses = list(result.lrs), list(result.losses)
    expect_finite("the LRs of the range test", lrs)
    expect_finite("the smoothed losses of the range test", losses, hint="stop before the loss becomes NaN")
    expect_finite("the suggested LR", result.suggestion)
    if not lrs or len(lrs) != len(losses):
        fail(f"expected one smoothed loss per LR tried, got {len(lrs)} LRs and {len(losses)} losses")
    expect_close("first LR of the range test", lrs[0], 1e-4, rtol=1e-6, atol=0)
    ratios = [b / a for a, b in zip(lrs, lrs[1:])]
    expect_close("ratio between consecutive LRs (geometric ramp from 1e-4 to 10 in 40 steps)", ratios,
                 [10 ** (5 / 39)] * len(ratios), rtol=1e-4, atol=0)
    for key, value in model.state_dict().items():
        expect_close(f"model weight {key} after the range test", value, before[key], atol=0,
                     hint="the LR finder must restore the model's initial weights (it trains at absurd LRs)")
    best = lrs[min(range(len(losses)), key=losses.__getitem__)]
    expect_true(1e-4 <= result.suggestion < best,
                f"the suggestion ({result.suggestion:.3g}) should be below the LR with the lowest loss ({best:.3g}), "
                f"where the loss is still falling")
    expect_true(min(losses) < 0.8 * losses[0], f"the smoothed loss never fell ({losses[0]:.3g} -> min {min(losses):.3g})")
