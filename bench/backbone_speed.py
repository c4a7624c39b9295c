"""How fast is efficientnet_lite0 on this machine? Inference latency and training throughput, both frameworks.

    python bench/backbone_speed.py                       # torch and keras, 224/128/96 px
    python bench/backbone_speed.py --frameworks torch --sizes 96 --steps 3 --threads 1
    python bench/backbone_speed.py --probe /tmp/cifar10/train --sizes 32 64 96 128 --per-class 200

For each input size: inference latency at batch 1 and batch 32 (eval mode, no gradients), then images/s for
one training step (forward + backward + SGD update) at batch 32, head only (backbone frozen) and full fine-tune.
Numbers are medians over `--steps` timed repetitions after one warm-up. Report `uptime` beside them: on a
shared, oversubscribed CPU, PyTorch with more threads than free cores can be 10-100x slower (spinning OpenMP
workers), so also measure with `--threads 1`.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

TRAIN_BATCH = 32
NUM_CLASSES = 10


def _median_seconds(step, repeats: int) -> tuple[float, float]:
    """(wall, CPU) seconds per call. With one thread, CPU time is what the call takes on an idle core."""
    step()  # warm-up: allocations, graph tracing
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def _row(framework: str, size: int, mode: str, batch: int, seconds: tuple[float, float]) -> dict:
    wall, cpu = seconds
    return dict(framework=framework, size=size, mode=mode, ms=1000 * wall, images_per_s=batch / wall,
                cpu_ms=1000 * cpu, images_per_cpu_s=batch / cpu)


def bench_torch(sizes: list[int], repeats: int, threads: int | None) -> list[dict]:
    import torch
    from shared.backbones import torch_backbones as tb

    if threads:
        torch.set_num_threads(threads)

    rows = []
    for size in sizes:
        model = tb.create_backbone("efficientnet_lite0").model
        for batch in (1, TRAIN_BATCH):
            images = torch.randn(batch, 3, size, size)
            with torch.no_grad():
                seconds = _median_seconds(lambda: model(images), repeats)
            rows.append(_row("torch", size, f"infer b{batch}", batch, seconds))
        model = tb.replace_head(model, NUM_CLASSES)
        images, labels = torch.randn(TRAIN_BATCH, 3, size, size), torch.randint(0, NUM_CLASSES, (TRAIN_BATCH,))
        for mode in ("head-only", "full"):
            model.requires_grad_(mode == "full")
            for p in tb.head_parameters(model):
                p.requires_grad_(True)
            model.train() if mode == "full" else model.eval()  # frozen backbone: BN keeps its ImageNet stats
            optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)

            def step():
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(model(images), labels).backward()
                optimizer.step()

            seconds = _median_seconds(step, repeats)
            rows.append(_row("torch", size, f"train {mode} b{TRAIN_BATCH}", TRAIN_BATCH, seconds))
    return rows


def bench_keras(sizes: list[int], repeats: int, threads: int | None) -> list[dict]:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from shared.backbones import keras_backbones as kb
    import keras
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)

    rows = []
    for size in sizes:
        model = kb.create_keras_backbone("efficientnet_lite0", input_size=size).model
        for batch in (1, TRAIN_BATCH):
            images = np.random.default_rng(0).normal(size=(batch, size, size, 3)).astype(np.float32)
            seconds = _median_seconds(lambda: model.predict_on_batch(images), repeats)
            rows.append(_row("keras", size, f"infer b{batch}", batch, seconds))
        images = np.random.default_rng(0).normal(size=(TRAIN_BATCH, size, size, 3)).astype(np.float32)
        labels = np.random.default_rng(0).integers(0, NUM_CLASSES, TRAIN_BATCH)
        for mode in ("head-only", "full"):
            transfer = kb.replace_head(model, NUM_CLASSES)
            for layer in kb.backbone_layers(transfer):
                layer.trainable = mode == "full"
            transfer.compile(optimizer=keras.optimizers.SGD(0.01),
                             loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            seconds = _median_seconds(lambda: transfer.train_on_batch(images, labels), repeats)
            rows.append(_row("keras", size, f"train {mode} b{TRAIN_BATCH}", TRAIN_BATCH, seconds))
    return rows


def linear_probe(folder: str, sizes: list[int], per_class: int, threads: int | None) -> list[dict]:
    """Frozen torch lite0 features at each size + logistic regression: which input size is worth its cost?

    `folder` holds <class>/<image> files (e.g. the CIFAR-10 training split); the first `per_class` images of
    each class (sorted by name) are used, every 5th of them for validation.
    """
    from pathlib import Path

    import torch
    from PIL import Image
    from sklearn.linear_model import LogisticRegression

    from shared.backbones import torch_backbones as tb

    if threads:
        torch.set_num_threads(threads)
    classes = sorted(p.name for p in Path(folder).iterdir() if p.is_dir())
    files = [(f, label) for label, name in enumerate(classes)
             for f in sorted((Path(folder) / name).iterdir())[:per_class]]
    pictures = [np.asarray(Image.open(f).convert("RGB")) for f, _ in files]
    labels = np.array([label for _, label in files])
    is_val = np.arange(len(files)) % 5 == 0
    extractor = tb.feature_extractor(tb.create_backbone("efficientnet_lite0").model).eval()
    rows = []
    for size in sizes:
        resized = np.stack([np.asarray(Image.fromarray(p).resize((size, size), Image.BILINEAR)) for p in pictures])
        start, start_cpu = time.perf_counter(), time.process_time()
        with torch.no_grad():
            batches = torch.from_numpy(resized).permute(0, 3, 1, 2).float().div(255).sub(0.5).div(0.5).split(64)
            features = torch.cat([extractor(batch) for batch in batches]).numpy()  # (N, 1280)
        wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        classifier = LogisticRegression(max_iter=2000, C=0.5).fit(features[~is_val], labels[~is_val])
        rows.append(dict(size=size, val_acc=classifier.score(features[is_val], labels[is_val]),
                         train=int((~is_val).sum()), val=int(is_val.sum()),
                         images_per_s=len(files) / wall, images_per_cpu_s=len(files) / cpu))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frameworks", nargs="+", default=["torch", "keras"], choices=["torch", "keras"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[224, 128, 96])
    parser.add_argument("--steps", type=int, default=5, help="timed repetitions per measurement")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: the libraries' own)")
    parser.add_argument("--probe", metavar="FOLDER", help="instead: linear-probe accuracy per size on FOLDER")
    parser.add_argument("--per-class", type=int, default=200, help="--probe: images per class")
    args = parser.parse_args(argv)
    if args.probe:
        for row in linear_probe(args.probe, args.sizes, args.per_class, args.threads):
            print(f"probe {row['size']:4d}px val_acc {row['val_acc']:.3f} (train {row['train']}, val {row['val']}) "
                  f"features {row['images_per_s']:.1f} img/s, {row['images_per_cpu_s']:.1f} img/cpu-s", flush=True)
        return
    benches = {"torch": bench_torch, "keras": bench_keras}  # torch first: its imports must precede TensorFlow's
    for framework in ("torch", "keras"):
        if framework in args.frameworks:
            for row in benches[framework](args.sizes, args.steps, args.threads):
                print(f"{row['framework']:6} {row['size']:4d}px {row['mode']:24} wall {row['ms']:8.1f} ms "
                      f"{row['images_per_s']:7.1f} img/s | cpu {row['cpu_ms']:8.1f} ms "
                      f"{row['images_per_cpu_s']:7.1f} img/cpu-s", flush=True)


if __name__ == "__main__":
    main()
