"""Week 3 · mixed_precision.py: bf16 autocast on CPU without a GradScaler; fp16 with one."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from shared.grading.checks import expect_finite, expect_true, fail
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
    dtypes, logits = [], []

    def record(module, inputs, output) -> None:
        dtypes.append(output.dtype)
        logits.append(output.detach())

    model[3].register_forward_hook(record)
    images, labels = torch.randn(16, 3, 8, 8), torch.randint(0, 3, (16,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    losses = [mixed_precision.amp_train_step(model, images, labels, optimizer, scaler, torch.bfloat16) for _ in range(8)]
    expect_true(dtypes and dtypes[0] == torch.bfloat16,
                f"under bf16 autocast the Linear layer should compute in bfloat16, got {dtypes[:1]}: run the forward "
                f"pass inside torch.autocast('cpu', dtype=torch.bfloat16)")
    expect_true(all(p.dtype == torch.float32 for p in model.parameters()),
                "the weights must stay float32 (autocast casts on the fly; do not call model.bfloat16())")
    expect_finite("the losses of eight bf16 steps", losses)
    in_float32 = nn.functional.cross_entropy(logits[0].float(), labels).item()
    if abs(losses[0] - in_float32) > 1e-4 * max(1.0, in_float32):
        in_bf16 = nn.functional.cross_entropy(logits[0], labels).item()
        hint = (" It matches the loss computed in bfloat16." if abs(losses[0] - in_bf16) < 1e-6 else "")
        fail(f"the first step returned loss {losses[0]:.5f}, but the cross-entropy of its logits in float32 is "
             f"{in_float32:.5f}.{hint} Compute the loss in float32: loss_fn(logits.float(), labels) (bf16 keeps "
             f"only ~3 significant digits, too few for a loss and its gradient).")
    expect_true(isinstance(losses[0], float) and losses[-1] < 0.8 * losses[0],
                f"eight bf16 steps should reduce the loss; got {losses[0]} -> {losses[-1]}")
    dtypes.clear()
    mixed_precision.amp_train_step(model, images, labels, optimizer, scaler, None)
    expect_true(dtypes == [torch.float32], f"with dtype=None the step runs in float32, got {dtypes}")
