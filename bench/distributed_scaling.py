"""Data-parallel scaling on this machine, and what it predicts for more processes.

Measured in one run, for the week-2 CNN (`solutions.week2.cnn.CNN`) and the week-3 ResNetCNN
(`solutions.week3.improved_cnn.ResNetCNN`), float32 training steps of random 32x32x3 images, global batch B:
- 1 process, 1 thread, batch B: the baseline;
- 1 process, 2 threads, batch B: intra-op parallelism (what a single process does with both cores);
- 2 processes x 1 thread, DistributedDataParallel over gloo, B/2 per rank (same global batch: strong scaling),
  the same with the gradient all-reduce switched off (`ddp.no_sync()`: compute only), and B per rank (weak scaling);
- a raw `dist.all_reduce` of a float32 tensor the size of the model's gradients, and of a single float (latency).
The ranks are started by torch.distributed.elastic (shared/distributed.py), the machinery behind torchrun. Every
configuration is measured `--repeats` times, alternating, and each ratio is the median of the per-repeat ratios, so
that load from other processes hits all of them alike.

From these it estimates the speed-up against the world size N with a ring all-reduce model (assumptions printed
with the results): T_step(N) = T_compute(per-rank batch) + T_allreduce(N), with
T_allreduce(N) = (N - 1) * t_latency + 2 (N - 1) / N * (t_model - t_latency), both t measured at N = 2.

    .venv/bin/python bench/distributed_scaling.py                 # ~3 min on a quiet 2-core machine
Writes bench/results/distributed_scaling.md and .png.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import shared  # noqa: E402,F401  (the import-order guard, before torch)
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.parallel import DistributedDataParallel  # noqa: E402

from shared.distributed import launch  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
MODELS = {"week-2 CNN": "solutions.week2.cnn:CNN", "week-3 ResNetCNN": "solutions.week3.improved_cnn:ResNetCNN"}
WORLD_SIZES = (1, 2, 4, 8, 16, 64)


def build(model_name: str) -> nn.Module:
    module, name = MODELS[model_name].split(":")
    torch.manual_seed(0)
    return getattr(__import__(module, fromlist=[name]), name)(10, (32, 32, 3))


def _batch(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(size)
    return torch.randn(size, 3, 32, 32, generator=generator), torch.randint(0, 10, (size,), generator=generator)


def _step(model, optimizer, images, labels) -> None:
    optimizer.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(model(images), labels).backward()
    optimizer.step()


def _median_seconds(function, steps: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        function()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def single_process(model_name: str, batch: int, threads: int, steps: int) -> float:
    """Median seconds per training step in this process, with `threads` intra-op threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = build(model_name)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        images, labels = _batch(batch)
        return _median_seconds(lambda: _step(model, optimizer, images, labels), steps)
    finally:
        torch.set_num_threads(previous)


def on_each_rank(model_name: str, global_batch: int, steps: int) -> dict:
    """Runs on every rank (1 thread each): median step times with and without the all-reduce, and raw all-reduces."""
    dist.init_process_group("gloo")
    world = dist.get_world_size()
    model = DistributedDataParallel(build(model_name))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    half, full = _batch(global_batch // world), _batch(global_batch)

    def synced(batch):
        def run():
            _step(model, optimizer, *batch)
        return run

    def unsynced():
        with model.no_sync():  # backward without the gradient all-reduce: compute only
            _step(model, optimizer, *half)

    gradient = torch.zeros(sum(p.numel() for p in model.parameters()))
    tiny = torch.zeros(1)
    result = {}
    for name, function, count in (("strong", synced(half), steps), ("compute", unsynced, steps),
                                  ("weak", synced(full), steps), ("allreduce_model", lambda: dist.all_reduce(gradient), 20),
                                  ("allreduce_latency", lambda: dist.all_reduce(tiny), 50)):
        dist.barrier()
        result[name] = _median_seconds(function, count)
    result["parameters"] = gradient.numel()
    dist.destroy_process_group()
    return result


def measure(model_name: str, batch: int, steps: int, repeats: int, me) -> list[dict]:
    rows = []
    for repeat in range(repeats):
        row = {"one_thread": single_process(model_name, batch, 1, steps),
               "one_thread_half": single_process(model_name, batch // 2, 1, steps),
               "two_threads": single_process(model_name, batch, 2, steps)}
        ranks = launch(me.on_each_rank, model_name, batch, steps, nproc=2, threads_per_process=1,
                       start_method="fork", all_ranks=True, timeout_s=900, preload=("torch._dynamo",))
        for key in ("strong", "compute", "weak", "allreduce_model", "allreduce_latency"):
            row[key] = max(ranks[rank][key] for rank in ranks)  # the slower rank sets the pace
        row["parameters"] = ranks[0]["parameters"]
        rows.append(row)
        print(f"  {model_name} repeat {repeat + 1}/{repeats}: " + ", ".join(
            f"{k} {v * 1000:.1f} ms" for k, v in row.items() if k != "parameters"), flush=True)
    return rows


def summarise(rows: list[dict], batch: int) -> dict:
    def median_ratio(numerator, denominator):
        return statistics.median(row[numerator] / row[denominator] for row in rows)

    median = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
    return {
        "median": median,
        "two_threads_speedup": median_ratio("one_thread", "two_threads"),
        "two_processes_speedup": median_ratio("one_thread", "strong"),                    # same global batch B
        "two_processes_weak_speedup": statistics.median(2 * row["one_thread"] / row["weak"] for row in rows),
        "exposed_allreduce_fraction": statistics.median((row["strong"] - row["compute"]) / row["strong"] for row in rows),
        "raw_allreduce_fraction": median_ratio("allreduce_model", "strong"),
        "half_over_full": median_ratio("one_thread_half", "one_thread"),  # T(B/2) / T(B), one process, one thread
        "batch": batch,
    }


def predicted_speedup(summary: dict, world_size: int, weak: bool) -> float:
    """Speed-up over one process at the same global batch (strong) or the same per-rank batch (weak), each rank
    with a core of its own, no overlap of communication with the backward pass (pessimistic for DDP)."""
    median = summary["median"]
    latency, model = median["allreduce_latency"], median["allreduce_model"]
    allreduce = (world_size - 1) * latency + 2 * (world_size - 1) / world_size * max(model - latency, 0.0)
    full = median["one_thread"]
    if weak:
        return world_size * full / (full + allreduce)
    # T_compute(b) = fixed + per_image * b, fitted from b = B and b = B/2 (one process, one thread)
    per_image = max(2 * (1 - summary["half_over_full"]) * full / summary["batch"], 0.0)
    fixed = max(full - per_image * summary["batch"], 0.0)  # measurement noise can make T(B/2) < T(B) / 2
    per_image = (full - fixed) / summary["batch"]
    return full / (fixed + per_image * summary["batch"] / world_size + allreduce)


def _plot(summaries: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for axis, weak in zip(axes, (False, True)):
        axis.plot(WORLD_SIZES, WORLD_SIZES, "k:", label="ideal")
        for name, summary in summaries.items():
            line, = axis.plot(WORLD_SIZES, [predicted_speedup(summary, n, weak) for n in WORLD_SIZES], "o-", label=name)
            axis.plot([2], [summary["two_processes_weak_speedup" if weak else "two_processes_speedup"]], "*",
                      color=line.get_color(), markeredgecolor="k", markersize=14)
        axis.set(xscale="log", yscale="log", xlabel="world size N (processes, one core or GPU each)",
                 title=("weak scaling: per-rank batch fixed" if weak else "strong scaling: global batch fixed"))
        axis.set_xticks(WORLD_SIZES, [str(n) for n in WORLD_SIZES])
        axis.set_yticks([0.5, 1, 2, 4, 8, 16, 64], ["0.5", "1", "2", "4", "8", "16", "64"])
        axis.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("speed-up over 1 process")
    axes[0].legend(title="estimate (lines), measured at N=2 (stars)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def report(summaries: dict, rows: dict, steps: int, repeats: int, load_before: str, load_after: str) -> str:
    lines = ["# Data-parallel scaling on this machine", "",
             f"float32 training steps on random 32x32x3 images, global batch {next(iter(summaries.values()))['batch']}, "
             f"median of {steps} timed steps per measurement, {repeats} alternating repeats; each ratio is the median "
             f"of the per-repeat ratios (all from one run). 2 processes = DistributedDataParallel over gloo, started "
             f"by torch.distributed.elastic (torchrun's machinery), 1 intra-op thread each.", "",
             "| model | params | 1 proc x 1 thread (ms/step) | same, B/2 | 1 proc x 2 threads | 2 procs x 1 thread, "
             "B/2 each | same, all-reduce off | 2 procs, B each (weak) | all-reduce of the gradients (ms) | "
             "latency (ms) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, summary in summaries.items():
        m = summary["median"]
        lines.append(f"| {name} | {m['parameters']:,.0f} | {m['one_thread'] * 1e3:.0f} | "
                     f"{m['one_thread_half'] * 1e3:.0f} | {m['two_threads'] * 1e3:.0f} | {m['strong'] * 1e3:.0f} | "
                     f"{m['compute'] * 1e3:.0f} | {m['weak'] * 1e3:.0f} | {m['allreduce_model'] * 1e3:.2f} | "
                     f"{m['allreduce_latency'] * 1e3:.3f} |")
    lines += ["", "| model | 2 threads vs 1 | 2 processes vs 1 (same global batch) | 2 processes, weak (images/s) | "
              "exposed all-reduce / step | raw all-reduce / step |", "|---|---:|---:|---:|---:|---:|"]
    for name, summary in summaries.items():
        lines.append(f"| {name} | {summary['two_threads_speedup']:.2f}x | {summary['two_processes_speedup']:.2f}x | "
                     f"{summary['two_processes_weak_speedup']:.2f}x | {summary['exposed_allreduce_fraction']:.1%} | "
                     f"{summary['raw_allreduce_fraction']:.1%} |")
    lines += ["", "Estimated speed-up against world size N (see the assumptions below; N = 1, 2 are measured inputs):", "",
              "| model | scaling | " + " | ".join(f"N={n}" for n in WORLD_SIZES) + " |",
              "|---|---|" + "---:|" * len(WORLD_SIZES)]
    for name, summary in summaries.items():
        for weak in (False, True):
            lines.append(f"| {name} | {'weak (per-rank batch fixed)' if weak else 'strong (global batch fixed)'} | "
                         + " | ".join(f"{predicted_speedup(summary, n, weak):.2f}x" for n in WORLD_SIZES) + " |")
    lines += ["", "![speed-up against world size](distributed_scaling.png)", "",
              "Assumptions of the estimate:",
              "- every rank has a core (or a GPU) of its own, as fast as this machine's, and nothing else shares it; "
              "memory bandwidth is not shared between ranks (on this 2-core machine it is: the measured N=2 numbers "
              "include that contention);",
              "- compute per step is linear in the per-rank batch, T(b) = fixed + per_image x b, fitted from b = B "
              "and b = B/2 measured in one process with one thread (T(B/2) / T(B) is in the table);",
              "- the gradient all-reduce is a ring: T(N) = (N-1) x latency + 2 (N-1)/N x (t_model - latency), with the "
              "latency (1 float) and t_model (all gradients) measured over gloo between 2 local processes; on a "
              "cluster both come from the network instead (NCCL over NVLink/InfiniBand is 10-100x faster per byte "
              "than gloo over TCP loopback; across nodes over Ethernet it can be slower);",
              "- no overlap of the all-reduce with the backward pass (DDP does overlap bucket by bucket, so this is "
              "pessimistic), and data loading never waits;",
              "- strong scaling keeps the global batch: each rank's batch shrinks to B/N and its fixed cost per step "
              "stays, which caps the speed-up; weak scaling grows the global batch (and the learning rate with it).",
              "", f"Per-repeat rows (seconds): {rows}", "",
              f"torch {torch.__version__}, {os.cpu_count()} CPUs, no GPU" if not torch.cuda.is_available() else
              f"torch {torch.__version__}, {torch.cuda.get_device_name()}",
              f"load before: {load_before}", f"load after: {load_after}", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64, help="global batch")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per measurement")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    args = parser.parse_args()
    import distributed_scaling as me  # this file as an importable module: the ranks unpickle `on_each_rank` from it

    load_before = _uptime()
    print(load_before)
    rows = {name: measure(name, args.batch, args.steps, args.repeats, me) for name in args.models}
    load_after = _uptime()
    summaries = {name: summarise(model_rows, args.batch) for name, model_rows in rows.items()}
    RESULTS.mkdir(exist_ok=True)
    _plot(summaries, RESULTS / "distributed_scaling.png")
    text = report(summaries, {k: [{m: round(v, 5) for m, v in r.items()} for r in v] for k, v in rows.items()},
                  args.steps, args.repeats, load_before, load_after)
    (RESULTS / "distributed_scaling.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
