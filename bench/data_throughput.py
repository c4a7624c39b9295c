"""Is the data pipeline fast enough? Loader throughput against the training throughput of a small CNN.

    .venv/bin/python bench/data_throughput.py                 # shapes, 32x32, batch 64
    .venv/bin/python bench/data_throughput.py --difficulty    # also: how hard is `shapes`? (~2 minutes)

Reports, in one run on this machine: images/s of shapes generation, of the PyTorch loader (num_workers 0 and
2) and of the Keras tf.data pipeline, the images/s at which a small CNN trains, and their ratio: a ratio well
above 1 means the model, not the data, limits training. With --difficulty it trains the small CNN for a fixed
wall-clock budget on `shapes` and fits logistic regression on raw pixels (the task should be learnable but not
trivial: the CNN should land in about 85-95% validation accuracy, the linear model below 50%).
"""
from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import torch
from torch import nn

from shared.data import load_dataset, shapes
from shared.data.torch_data import make_loader

WARMUP_BATCHES = 3


def small_cnn(num_classes: int, channels: int = 3, width: int = 16) -> nn.Module:
    """Three conv blocks (width, 2 width, 4 width channels) and a linear head: ~25k parameters at width 16."""
    def block(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2))

    return nn.Sequential(block(channels, width), block(width, 2 * width), block(2 * width, 4 * width),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, num_classes))


def images_per_second(batches, limit_s: float) -> float:
    """Drain `batches` (an iterable of (x, y)) for up to limit_s seconds after a short warm-up."""
    iterator = iter(batches)
    for _ in range(WARMUP_BATCHES):
        next(iterator)
    count, start = 0, time.perf_counter()
    for images, _ in iterator:
        count += len(images)
        if time.perf_counter() - start > limit_s:
            break
    return count / (time.perf_counter() - start)


def repeat(make):
    while True:
        yield from make()


def train_throughput(model: nn.Module, loader, limit_s: float) -> float:
    """images/s of forward + backward + Adam steps on batches already in memory (no loading)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    batches = [b for _, b in zip(range(8), loader)]
    model.train()
    count, start, step = 0, None, 0
    while True:
        images, labels = batches[step % len(batches)]
        optimizer.zero_grad()
        loss_fn(model(images), labels).backward()
        optimizer.step()
        step += 1
        if step == WARMUP_BATCHES:
            start = time.perf_counter()
        elif step > WARMUP_BATCHES:
            count += len(images)
            if time.perf_counter() - start > limit_s:
                return count / (time.perf_counter() - start)


def throughput(args) -> None:
    t0 = time.perf_counter()
    generated = shapes.generate(args.size, image_size=args.image_size, seed=1)
    gen_rate = args.size / (time.perf_counter() - t0)
    ds = load_dataset("shapes", size=args.size, image_size=args.image_size, seed=0)
    print(f"shapes generation: {gen_rate:,.0f} images/s ({len(generated[0])} images)")
    rates = {}
    for workers in (0, 2):
        rates[f"torch loader, num_workers={workers}"] = images_per_second(
            repeat(lambda: make_loader(ds.train, args.batch_size, train=True, mean=ds.mean, std=ds.std,
                                       num_workers=workers)), args.seconds)
    from shared.data.keras_data import make_dataset
    keras_ds = make_dataset(ds.train, args.batch_size, train=True, mean=ds.mean, std=ds.std).repeat()
    rates["keras tf.data"] = images_per_second(keras_ds, args.seconds)
    model = small_cnn(ds.num_classes, ds.image_shape[-1])
    loader = make_loader(ds.train, args.batch_size, train=True, mean=ds.mean, std=ds.std)
    train_rate = train_throughput(model, loader, args.seconds)
    print(f"small CNN training (torch, {torch.get_num_threads()} threads): {train_rate:,.0f} images/s")
    for name, rate in rates.items():
        print(f"{name:<32} {rate:>10,.0f} images/s  = {rate / train_rate:5.1f}x training throughput")


def difficulty(args) -> None:
    """Train the small CNN for a CPU-time budget on shapes; fit logistic regression on raw pixels.

    The budget is process CPU time (all threads), not wall-clock time, so that other processes on a shared
    machine do not shrink it: 120 CPU-seconds is a minute of training on both cores of a quiet 2-core machine.
    """
    from sklearn.linear_model import LogisticRegression

    ds = load_dataset("shapes", size=args.difficulty_size, seed=args.seed)
    torch.manual_seed(args.seed)
    model = small_cnn(ds.num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    loader = make_loader(ds.train, args.batch_size, train=True, mean=ds.mean, std=ds.std, seed=args.seed)
    val_loader = make_loader(ds.val, 500, mean=ds.mean, std=ds.std)
    start, wall_start, epoch, steps = time.process_time(), time.perf_counter(), 0, 0
    while time.process_time() - start < args.train_cpu_seconds:
        model.train()
        for images, labels in loader:
            optimizer.zero_grad()
            loss_fn(model(images), labels).backward()
            optimizer.step()
            steps += 1
            if time.process_time() - start > args.train_cpu_seconds:
                break
        epoch += 1
        model.eval()
        with torch.no_grad():
            correct = sum((model(x).argmax(1) == y).sum().item() for x, y in val_loader)
        print(f"  epoch {epoch}: {steps} steps, {time.process_time() - start:5.1f} CPU-s "
              f"({time.perf_counter() - wall_start:5.1f} s wall), val acc {correct / len(ds.val):.3f}", flush=True)
    print(f"small CNN after {args.train_cpu_seconds:.0f} CPU-s ({steps} steps of {args.batch_size}, "
          f"{len(ds.train)} train images): val acc {correct / len(ds.val):.3f}")
    flat = lambda split: split.images.reshape(len(split), -1) / 255.0  # noqa: E731
    linear = LogisticRegression(max_iter=200).fit(flat(ds.train), ds.train.labels)
    print(f"logistic regression on raw pixels: train acc {linear.score(flat(ds.train), ds.train.labels):.3f}, "
          f"val acc {linear.score(flat(ds.val), ds.val.labels):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=5000, help="shapes images for the throughput runs")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per throughput figure")
    parser.add_argument("--difficulty", action="store_true", help="also run the shapes difficulty check")
    parser.add_argument("--only-difficulty", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--difficulty-size", type=int, default=10_000)
    parser.add_argument("--train-cpu-seconds", type=float, default=120.0,
                        help="difficulty check: training budget in process CPU seconds (2 cores x 60 s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}, torch {torch.__version__}")
    if not args.only_difficulty:
        throughput(args)
    if args.difficulty or args.only_difficulty:
        difficulty(args)


if __name__ == "__main__":
    main()
