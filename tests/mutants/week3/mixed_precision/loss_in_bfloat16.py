# Mutant of solutions/week3/mixed_precision.py: the loss is computed from the bf16 logits.
# expect: float32|bf16
"""Week 3 · Exercise 7: Mixed precision: bf16 autocast on CPU, fp16 + GradScaler on CUDA, channels_last.

What you will learn
- `torch.autocast` runs matmuls and convolutions in a 16-bit type while keeping the weights, the optimizer and
  precision-sensitive ops (softmax, losses, reductions) in float32. On a CPU with AVX-512 BF16 / AMX, bf16 is
  the one to use; on an NVIDIA GPU, fp16 (or bf16 on Ampere and later).
- Why `GradScaler` exists: fp16 has 5 exponent bits, so gradients below ~6e-8 flush to zero. The scaler
  multiplies the loss by a large factor before `backward`, unscales the gradients before the step, and skips
  steps whose gradients overflowed. bf16 has float32's 8 exponent bits, so it needs no scaler, and a scaler
  with bf16 only adds work (and hides nothing useful).
- `channels_last` (NHWC) memory format, which the oneDNN CPU kernels (and tensor cores) prefer for convolutions.
- Keras's version is a dtype *policy*: `mixed_bfloat16` / `mixed_float16` (`keras_twins.build_keras_mixed_cnn`),
  with the output layer kept in float32 so the softmax and the loss do not run in 16 bits.

Measured on this machine: bench/mixed_precision.py (ratios in bench/README.md).
Run it: `python -m solutions.week3.mixed_precision --dry-run` times a few fp32 and bf16 steps.
"""
from __future__ import annotations

import argparse
import time

import torch
from torch import nn


def autocast_dtype(device_type: str) -> torch.dtype:
    """The 16-bit type to autocast to: bfloat16 on "cpu", float16 on "cuda"."""
    if device_type not in ("cpu", "cuda"):
        raise ValueError(f"device_type must be 'cpu' or 'cuda', got {device_type!r}")
    return torch.bfloat16 if device_type == "cpu" else torch.float16


def make_grad_scaler(device_type: str, dtype: torch.dtype) -> torch.amp.GradScaler:
    """A `torch.amp.GradScaler` for `device_type`, enabled only when `dtype` is float16 (disabled otherwise)."""
    return torch.amp.GradScaler(device_type, enabled=dtype == torch.float16)


def amp_train_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, optimizer: torch.optim.Optimizer,
                   scaler: torch.amp.GradScaler, dtype: torch.dtype | None, loss_fn=None) -> float:
    """One optimizer step with the forward pass under `torch.autocast(device, dtype)` (none when dtype is None).

    The loss is computed in float32 (`logits.float()`), the backward goes through `scaler.scale(loss)`, and the
    step through `scaler.step(optimizer)` then `scaler.update()`; a disabled scaler makes these plain calls, so one
    function serves fp32, bf16 and fp16. Returns the loss as a float.
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    device_type = images.device.type
    model.train()
    with torch.autocast(device_type, dtype=dtype or torch.float32, enabled=dtype is not None):
        logits = model(images)                               # (B, num_classes), 16-bit under autocast
    loss = loss_fn(logits, labels)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss.item()


def to_channels_last(model: nn.Module, images: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
    """The model and a 4-d batch in channels_last memory format (same shapes, NHWC strides)."""
    return model.to(memory_format=torch.channels_last), images.contiguous(memory_format=torch.channels_last)


def images_per_second(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, dtype: torch.dtype | None,
                      steps: int = 10, warmup: int = 2, channels_last: bool = False, lr: float = 0.01) -> float:
    """Training throughput (images/s) of `steps` optimizer steps after `warmup` untimed ones."""
    if channels_last:
        model, images = to_channels_last(model, images)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    scaler = make_grad_scaler(images.device.type, dtype or torch.float32)
    for _ in range(warmup):
        amp_train_step(model, images, labels, optimizer, scaler, dtype)
    start = time.perf_counter()
    for _ in range(steps):
        amp_train_step(model, images, labels, optimizer, scaler, dtype)
    return steps * len(labels) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    from solutions.week2.cnn import build_cnn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--dry-run", action="store_true", help="two timed steps")
    args = parser.parse_args(argv)
    steps = 2 if args.dry_run else args.steps
    images, labels = torch.randn(128, 3, 32, 32), torch.randint(0, 10, (128,))
    for name, dtype, channels_last in (("fp32", None, False), ("bf16 + channels_last", torch.bfloat16, True)):
        torch.manual_seed(0)
        rate = images_per_second(build_cnn(10, (32, 32, 3)), images, labels, dtype, steps, 1, channels_last)
        print(f"{name:>22}: {rate:7.0f} images/s")


if __name__ == "__main__":
    main()
