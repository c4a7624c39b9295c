"""What this machine computes fast: the one home for training choices that depend on the hardware.

bf16 autocast pays only where the hardware does bf16 arithmetic: a CUDA GPU that supports it (Ampere and later),
an x86 CPU with AVX-512 BF16 or AMX, or an Arm CPU with its BF16 instructions. Elsewhere PyTorch's CPU kernels
convert to and from float32 around the work, and bf16 is far slower than float32: on an AVX2-only AMD EPYC
(2 cores, 2026-12-01) one epoch of week 3's recipe on 8,000 images took 40 s in float32 and did not finish in
400 s under bf16 autocast, where the AVX-512 BF16 machine the workbook was measured on runs it about 1.7x *faster*
in bf16. So the recipes ask `native_bf16()` instead of assuming.

`WORKBOOK_BF16=0` or `=1` overrides the check (to measure both sides, or to rule precision out when debugging).
"""
from __future__ import annotations

import functools
import os
import platform

import torch

_X86_BF16 = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")   # torch.cpu's probes of the instruction sets


def training_device_type() -> str:
    """"cuda" when a GPU is present, else "cpu": where the workbook's trainers put their models."""
    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.cache
def native_bf16(device_type: str | None = None) -> bool:
    """Whether bf16 autocast runs on bf16 hardware here (and so speeds training up) on `device_type`
    ("cpu" or "cuda"; default: the training device)."""
    override = os.environ.get("WORKBOOK_BF16", "").strip()
    if override in ("0", "1"):
        return override == "1"
    device_type = device_type or training_device_type()
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if platform.machine().lower() in ("aarch64", "arm64"):
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in _X86_BF16)


def precision_name(bf16: bool) -> str:
    """How a recipe statement names the arithmetic: "bf16 autocast" or "float32"."""
    return "bf16 autocast" if bf16 else "float32"
