"""Week 3 · mixed_precision.py: bf16 autocast on CPU without a GradScaler; fp16 with one."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from shared.grading.checks import expect_true
from shared.grading.target import exercise

mixed_precision = exercise("week3", "mixed_precision")


@pytest.mark.points(1)
def test_autocast_dtype():
    cpu, cuda = mixed_precision.autocast_dtype("cpu"), mixed_precision.autocast_dtype("cuda")
    expect_true(cpu == torch.bfloat16, f"on CPU autocast to bfloat16, got {cpu}")
    expect_true(cuda == torch.float16, f"on CUDA autocast to float16, got {cuda}")


@pytest.mark.points(2)
def test_grad_scaler_only_for_fp16():
    scaler = mixed_precision.make_grad_scaler("cpu", torch.bfloat16)
    expect_true(scaler is None or not scaler.is_enabled(),
                "a GradScaler was enabled for bf16: bf16 has float32's exponent range, so gradients do not underflow "
                "and scaling is not needed (enable it only for float16)")
    scaler = mixed_precision.make_grad_scaler("cpu", torch.float16)
    expect_true(scaler is not None and scaler.is_enabled(),
                "float16 needs an enabled GradScaler: small gradients flush to zero in its 5-bit exponent")


@pytest.mark.points(3)
def test_amp_train_step_runs_in_bf16_and_learns():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 3))
    dtypes = []
    model[3].register_forward_hook(lambda module, inputs, output: dtypes.append(output.dtype))
    images, labels = torch.randn(16, 3, 8, 8), torch.randint(0, 3, (16,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    losses = [mixed_precision.amp_train_step(model, images, labels, optimizer, scaler, torch.bfloat16) for _ in range(8)]
    expect_true(dtypes and dtypes[0] == torch.bfloat16,
                f"under bf16 autocast the Linear layer should compute in bfloat16, got {dtypes[:1]}: run the forward "
                f"pass inside torch.autocast('cpu', dtype=torch.bfloat16)")
    expect_true(all(p.dtype == torch.float32 for p in model.parameters()),
                "the weights must stay float32 (autocast casts on the fly; do not call model.bfloat16())")
    expect_true(isinstance(losses[0], float) and losses[-1] < 0.8 * losses[0],
                f"eight bf16 steps should reduce the loss; got {losses[0]} -> {losses[-1]}")
    dtypes.clear()
    mixed_precision.amp_train_step(model, images, labels, optimizer, scaler, None)
    expect_true(dtypes == [torch.float32], f"with dtype=None the step runs in float32, got {dtypes}")
