"""How fast can this machine convolve? fp32 and bf16 peak GFLOP/s of a 3x3 convolution, and each recipe's share.

A 3x3 convolution, 128 -> 128 channels on 16x16 maps, batch 256, channels_last (the shape of the improved CNN's
middle layers, large enough to keep the vector units busy), forward only, timed `--repeats` times; the best
repeat counts (interruptions by other processes only ever slow a repeat down). With one thread the time is the
thread's CPU time, so a shared machine still gives the per-core figure; with all threads it is wall time. A
matrix multiply (2048 x 2048) gives the dense-algebra figure beside it.

    python -m bench.conv_peak            # ~30 s; writes results/raw/conv_peak.json
"""
from __future__ import annotations

import argparse
import time

from bench.common import environment, save, uptime

SHAPE = dict(batch=256, channels=128, size=16)


def conv_flops(batch: int, channels: int, size: int, kernel: int = 3) -> float:
    return 2.0 * batch * channels * channels * kernel * kernel * size * size


def best_seconds(fn, repeats: int, per_thread: bool) -> float:
    fn()
    fn()                                                           # warm-up: oneDNN picks and compiles kernels
    clock = time.thread_time if per_thread else time.perf_counter
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        fn()
        best = min(best, clock() - start)
    return best


def measure(dtype_name: str, threads: int, repeats: int, device: str = "cpu") -> dict:
    import torch

    torch.set_num_threads(threads)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    conv = torch.nn.Conv2d(SHAPE["channels"], SHAPE["channels"], 3, padding=1, bias=False).to(device, dtype)
    conv = conv.to(memory_format=torch.channels_last)
    x = torch.randn(SHAPE["batch"], SHAPE["channels"], SHAPE["size"], SHAPE["size"], device=device, dtype=dtype)
    x = x.contiguous(memory_format=torch.channels_last)
    a = torch.randn(2048, 2048, device=device, dtype=dtype)

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    with torch.no_grad():
        conv_s = best_seconds(lambda: (conv(x), sync()), repeats, per_thread=threads == 1 and device == "cpu")
        matmul_s = best_seconds(lambda: (a @ a, sync()), repeats, per_thread=threads == 1 and device == "cpu")
    return {"dtype": dtype_name, "threads": threads, "device": device,
            "conv_gflops": conv_flops(**SHAPE) / conv_s / 1e9, "matmul_gflops": 2 * 2048 ** 3 / matmul_s / 1e9}


def run(repeats: int = 7) -> dict:
    import torch

    from bench.common import device

    load_before, threads = uptime(), torch.get_num_threads()
    rows = [measure(d, t, repeats) for t in sorted({1, threads}) for d in ("fp32", "bf16")]
    if device() == "cuda":
        rows += [measure(d, threads, repeats, "cuda") for d in ("fp32", "bf16")]
    torch.set_num_threads(threads)
    for row in rows:
        print(f"{row['device']} {row['dtype']} {row['threads']} thread(s): conv {row['conv_gflops']:.0f} GFLOP/s, "
              f"matmul {row['matmul_gflops']:.0f} GFLOP/s", flush=True)
    payload = {"shape": SHAPE, "rows": rows, "load_before": load_before, "load_after": uptime(),
               "environment": environment()}
    save("conv_peak", payload)
    return payload


def peak(results: dict, dtype: str = "bf16", device: str = "cpu") -> float | None:
    """The all-threads conv GFLOP/s of `dtype`, from a saved conv_peak result."""
    rows = [r for r in results.get("rows", []) if r["dtype"] == dtype and r["device"] == device]
    return max((r["conv_gflops"] for r in rows if r["threads"] == max(x["threads"] for x in rows)), default=None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    run(parser.parse_args(argv).repeats)


if __name__ == "__main__":
    main()
