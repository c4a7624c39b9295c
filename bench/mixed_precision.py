"""bf16 mixed precision on this CPU: training speedup and accuracy cost, PyTorch and Keras, in one run.

PyTorch: float32 vs bf16 autocast + channels_last, training steps of week 3's ResNetCNN and week 2's CNN.
Keras (TensorFlow backend): the same small CNN built with the "float32" and "mixed_bfloat16" policies
(solutions/week3/keras_twins.build_keras_mixed_cnn), `train_on_batch` steps.
The two precisions are timed alternately, `--repeats` times, and the ratio is the median of the per-repeat
ratios, so that load from other processes hits both sides alike. `--accuracy` also trains each precision for a
short fixed number of steps on real CIFAR-10 (when /tmp/cifar10_u8.npz from bench/improved_cnn.py exists) and
reports the held-out accuracy of both.

    .venv/bin/python bench/mixed_precision.py --repeats 5 --accuracy
Writes bench/results/mixed_precision.md and .csv.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from solutions.week2.cnn import build_cnn  # noqa: E402
from solutions.week3.improved_cnn import build_resnet_cnn  # noqa: E402
from solutions.week3.mixed_precision import amp_train_step, make_grad_scaler, to_channels_last  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CIFAR_CACHE = Path("/tmp/cifar10_u8.npz")


def torch_rate(builder, precision: str, batch: int, steps: int) -> float:
    torch.manual_seed(0)
    model = builder(10, (32, 32, 3))
    images, labels = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    dtype = torch.bfloat16 if precision == "bf16" else None
    if dtype is not None:
        model, images = to_channels_last(model, images)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scaler = make_grad_scaler("cpu", dtype or torch.float32)
    amp_train_step(model, images, labels, optimizer, scaler, dtype)          # warm-up: kernel selection
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(steps):
        amp_train_step(model, images, labels, optimizer, scaler, dtype)
    return steps * batch / (time.perf_counter() - start), steps * batch / (time.process_time() - cpu_start)


def keras_rate(policy: str, batch: int, steps: int) -> float:
    import keras

    from solutions.week3.keras_twins import build_keras_mixed_cnn

    keras.utils.set_random_seed(0)
    model = build_keras_mixed_cnn(10, (32, 32, 3), policy=policy)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    images = np.random.default_rng(0).normal(size=(batch, 32, 32, 3)).astype("float32")
    labels = np.random.default_rng(1).integers(0, 10, batch)
    model.train_on_batch(images, labels)                                    # warm-up: tracing
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(steps):
        model.train_on_batch(images, labels)
    return steps * batch / (time.perf_counter() - start), steps * batch / (time.process_time() - cpu_start)


def cifar_subset(train_size: int, test_size: int):
    data = np.load(CIFAR_CACHE)
    order = np.random.default_rng(0).permutation(len(data["labels"]))
    test, train = order[:10_000][:test_size], order[10_000:][:train_size]
    images = data["images"].astype(np.float32) / 255
    mean, std = images[train].mean((0, 1, 2)), images[train].std((0, 1, 2))
    images = (images - mean) / std
    return (images[train], data["labels"][train]), (images[test], data["labels"][test])


def torch_accuracy(precision: str, train, test, epochs: int) -> float:
    torch.manual_seed(0)
    model = build_resnet_cnn(10, (32, 32, 3))
    dtype = torch.bfloat16 if precision == "bf16" else None
    x, y = torch.from_numpy(train[0]).permute(0, 3, 1, 2), torch.from_numpy(train[1])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    scaler = make_grad_scaler("cpu", dtype or torch.float32)
    for _ in range(epochs):
        order = torch.randperm(len(y))
        for start in range(0, len(y) - 127, 128):
            index = order[start:start + 128]
            amp_train_step(model, x[index], y[index], optimizer, scaler, dtype)
    model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype is not None):
        logits = model(torch.from_numpy(test[0]).permute(0, 3, 1, 2)).float()
    return (logits.argmax(1).numpy() == test[1]).mean()


def keras_accuracy(policy: str, train, test, epochs: int) -> float:
    import keras

    from solutions.week3.keras_twins import build_keras_mixed_cnn

    keras.utils.set_random_seed(0)
    model = build_keras_mixed_cnn(10, (32, 32, 3), policy=policy)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(train[0], train[1], batch_size=128, epochs=epochs, verbose=0)
    return model.evaluate(test[0], test[1], verbose=0)[1]


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--accuracy", action="store_true", help="also compare accuracy on real CIFAR-10")
    parser.add_argument("--dry-run", action="store_true", help="one repeat of two steps, batch 64")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads for both frameworks (0: default)")
    args = parser.parse_args(argv)
    if args.threads:
        import tensorflow as tf

        torch.set_num_threads(args.threads)
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    if args.dry_run:
        args.repeats, args.steps, args.batch_size = 1, 2, 64
    load_before = uptime()
    cases = {
        "torch ResNetCNN (week 3)": (lambda p: torch_rate(build_resnet_cnn, p, args.batch_size, args.steps),
                                     ("fp32", "bf16")),
        "torch CNN (week 2)": (lambda p: torch_rate(build_cnn, p, args.batch_size, args.steps), ("fp32", "bf16")),
        "keras small CNN": (lambda p: keras_rate(p, args.batch_size, args.steps), ("float32", "mixed_bfloat16")),
    }
    rows = []
    for name, (measure, (base, mixed)) in cases.items():
        ratios, cpu_ratios, base_rates, mixed_rates = [], [], [], []
        for _ in range(args.repeats):
            (base_wall, base_cpu), (mixed_wall, mixed_cpu) = measure(base), measure(mixed)
            base_rates.append(base_wall)
            mixed_rates.append(mixed_wall)
            ratios.append(mixed_wall / base_wall)
            cpu_ratios.append(mixed_cpu / base_cpu)
        rows.append({"model": name, "baseline": base, "mixed": mixed,
                     "baseline_img_s": statistics.median(base_rates), "mixed_img_s": statistics.median(mixed_rates),
                     "speedup": statistics.median(ratios), "ratios": [round(r, 2) for r in ratios],
                     "cpu_speedup": statistics.median(cpu_ratios)})
        print(rows[-1], flush=True)
    accuracy_lines = []
    if args.accuracy and CIFAR_CACHE.exists():
        train, test = cifar_subset(4000, 2000)
        torch_fp32, torch_bf16 = torch_accuracy("fp32", train, test, 2), torch_accuracy("bf16", train, test, 2)
        keras_fp32 = keras_accuracy("float32", train, test, 2)
        keras_bf16 = keras_accuracy("mixed_bfloat16", train, test, 2)
        accuracy_lines = ["", "Accuracy cost (2 epochs on 4,000 CIFAR-10 images, 2,000 held-out test images, seed 0):",
                          "", "| framework | float32 | mixed bf16 |", "|---|---:|---:|",
                          f"| torch ResNetCNN | {torch_fp32:.4f} | {torch_bf16:.4f} |",
                          f"| keras small CNN | {keras_fp32:.4f} | {keras_bf16:.4f} |"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    lines = ["# bf16 mixed precision on this CPU", "",
             f"Training throughput, batch {args.batch_size}, {args.steps} timed steps per measurement, "
             f"{args.repeats} alternating repeats; speedup = median of per-repeat ratios.", "",
             "Wall-clock speedup is what a user sees; CPU-time speedup (images per CPU-second of this process) is "
             "much less sensitive to other processes sharing the cores.", "",
             "| model | baseline | mixed | baseline img/s | mixed img/s | wall speedup | per-repeat wall ratios "
             "| CPU-time speedup |",
             "|---|---|---|---:|---:|---:|---|---:|"]
    lines += [f"| {r['model']} | {r['baseline']} | {r['mixed']} | {r['baseline_img_s']:.0f} | {r['mixed_img_s']:.0f} "
              f"| {r['speedup']:.2f}x | {r['ratios']} | {r['cpu_speedup']:.2f}x |" for r in rows]
    lines += accuracy_lines
    lines += ["", f"torch {torch.__version__}, torch threads {torch.get_num_threads()}, --threads {args.threads}, "
                  f"cpus {os.cpu_count()}",
              f"load before: {load_before}", f"load after: {uptime()}"]
    name = "mixed_precision_dry_run" if args.dry_run else "mixed_precision"
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
