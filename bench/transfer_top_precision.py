"""Why the PyTorch cached Lite0 top was slower than its Keras twin: a training step of the top blocks on 128-px
activations (batch 128), bf16 autocast against float32, channels_last against contiguous. One run, ratios.

    .venv/bin/python bench/transfer_top_precision.py      # ~30 s

2026-12-01 06:01 UTC, quiet (load 0.3-0.8), 2 threads: bf16 + channels_last 163 img/s, bf16 contiguous 184,
float32 + channels_last 338, float32 contiguous 221. Again at 06:33 (load 0.9): 233, 266, 383, 283. bf16 autocast
costs these depthwise blocks a third to a half of their speed on this CPU (AVX-512 BF16, no AMX), so
`CachedConfig.top_bf16` is False: the top trains in float32 + channels_last. In the full CIFAR-10 recipe an epoch
of the top took 106 s instead of 163 (bench/results/summary.md).
"""
from __future__ import annotations

import time

import torch
from torch.nn import functional as F

from solutions.week4.cached_transfer import CachedConfig, split_backbone
from solutions.week4.heads import build_transfer_model


def images_per_s(top, x, y, bf16: bool, steps: int = 8) -> float:
    optimizer = torch.optim.AdamW([p for p in top.parameters() if p.requires_grad], 1e-4)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = top(x)
        loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    warm = sorted(times[2:])
    return len(y) / warm[len(warm) // 2]


def main(size: int = 128, batch: int = 128) -> None:
    torch.manual_seed(0)
    model, _ = build_transfer_model(10, image_size=size)
    bottom, top = split_backbone(model, CachedConfig.top_blocks)
    with torch.no_grad():
        shape = bottom(torch.randn(2, 3, size, size)).shape[1:]
    x, y = torch.randn(batch, *shape), torch.randint(0, 10, (batch,))
    print(f"cached activations {tuple(shape)}, batch {batch}")
    for bf16 in (True, False):
        for channels_last in (True, False):
            inputs = x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
            print(f"bf16={bf16!s:5} channels_last={channels_last!s:5}: {images_per_s(top, inputs, y, bf16):.0f} img/s",
                  flush=True)


if __name__ == "__main__":
    main()
