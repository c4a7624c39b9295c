"""Week 4's transfer model on CIFAR-10: EfficientNet-Lite0, linear probe and cached fine-tuning, against time.

The model and both training stages are the reference solution's (`solutions/week4/heads.build_transfer_model`,
`solutions/week4/cached_transfer`: `split_backbone`, `cache_activations`, `fit_head`, `train_top`); this script
feeds them the held-out split (bench/common.py), upsampled from 32 px to `--size` px, and times each stage:
1. cache: the frozen bottom of the backbone runs once over the 40,000 training images and their mirror images,
2. probe: a linear head on the pooled features (the linear-probe result),
3. top: the top blocks and the head train on the cached activations, for `--epochs` epochs or as many as fit in
   what `--budget-s` leaves after 1 and 2 (timed on a throwaway copy first).
Training time = 1 + 2 + 3. The held-out images go through the same bottom once (evaluation, timed apart) and are
scored with flip TTA after the probe and after each epoch (first 2,000 images) and at the end (all 10,000).

    python -m bench.transfer --size 128 --budget-s 1200 --seeds 0 1 2   # the 20-minute goal
    python -m bench.transfer --size 128 --epochs 6                      # fixed epochs instead of a budget
    python -m bench.transfer --probe-sizes 64 96 128 160 --limit 5000 --name resolution   # accuracy vs cost
    python -m bench.transfer --dry-run
"""
from __future__ import annotations

import argparse
import copy
import math
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from bench.common import DEFAULT_DATA, device as pick_device, environment, load_cifar10, save, uptime
from solutions.week4.cached_transfer import (CachedConfig, cache_activations, fit_head, split_backbone,
                                             top_logits, train_top)
from solutions.week4.heads import build_transfer_model

QUICK_TEST = 2_000
CALIBRATION_STEPS, MAX_EPOCHS = 20, 20.0


def upsampled(images: np.ndarray, labels: np.ndarray, size: int, mean, std, batch: int = 250):
    """(images (B, 3, size, size) normalised with the backbone's mean/std, labels) batches, bilinear upsampling."""
    mean, std = torch.tensor(mean)[:, None, None], torch.tensor(std)[:, None, None]
    for start in range(0, len(labels), batch):
        x = torch.from_numpy(images[start:start + batch]).permute(0, 3, 1, 2).float().div_(255)
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
        yield (x - mean) / std, torch.from_numpy(labels[start:start + batch])


def accuracy(top, cache, config, device, limit: int | None = None) -> float:
    plain, mirrored, labels = (t[:limit] if t is not None else None for t in cache)
    logits = top_logits(top, plain, mirrored, bf16=config.bf16, device=device)
    return (logits.argmax(1) == labels).float().mean().item()


class Curve:
    def __init__(self, test_cache, config, device, start_s: float):
        self.test_cache, self.config, self.device, self.train_s = test_cache, config, device, start_s
        self.points, self.eval_s = [], 0.0

    def on_epoch_end(self, epoch, logs, top):
        start = time.perf_counter()
        self.train_s += logs["epoch_time_s"]
        acc = accuracy(top, self.test_cache, self.config, self.device, QUICK_TEST)
        self.points.append({"epoch": epoch + 1, "train_s": round(self.train_s, 2), "test_acc": acc,
                            "test_images": QUICK_TEST})
        print(f"  top epoch {epoch + 1}: {self.train_s:.0f} s in total, held-out (2,000, flip TTA) {acc:.4f}",
              flush=True)
        self.eval_s += time.perf_counter() - start


def fit_budget(top, train, config: CachedConfig, device: str, seconds_left: float) -> float:
    """Epochs of the top (rounded down to 0.1, between 1 and MAX_EPOCHS) that fit in `seconds_left`, timed on a
    throwaway copy of the top for CALIBRATION_STEPS steps (after two warm-up steps); the copy's time is not
    counted as training."""
    steps_per_epoch = len(train[2]) // config.batch_size
    probe_top = copy.deepcopy(top)
    for steps in (2, CALIBRATION_STEPS):
        start = time.perf_counter()
        train_top(probe_top, train, epochs=steps / steps_per_epoch, config=config, device=device)
    epoch_s = (time.perf_counter() - start) / CALIBRATION_STEPS * steps_per_epoch
    epochs = max(1.0, min(MAX_EPOCHS, math.floor(10 * 0.97 * seconds_left / epoch_s) / 10))
    print(f"calibration: {epoch_s:.0f} s per epoch of the top -> {epochs} epochs in the {seconds_left:.0f} s left",
          flush=True)
    return epochs


def run_seed(seed: int, held, size: int, epochs: float, config: CachedConfig, device: str,
             budget_s: float | None = None) -> dict:
    torch.manual_seed(seed)
    model, preprocessing = build_transfer_model(10, image_size=size)
    model.to(device)
    bottom, top = split_backbone(model, config.top_blocks)
    norm = (preprocessing.mean, preprocessing.std)
    start = time.perf_counter()
    train = cache_activations(bottom, upsampled(held.train_images, held.train_labels, size, *norm),
                              bf16=config.bf16, device=device)
    cache_s = time.perf_counter() - start
    start = time.perf_counter()
    test = cache_activations(bottom, upsampled(held.test_images, held.test_labels, size, *norm),
                             bf16=config.bf16, device=device)
    test_cache_s = time.perf_counter() - start
    start = time.perf_counter()
    fit_head(top, train, config, device, seed)
    probe_s = time.perf_counter() - start
    probe_acc = accuracy(top, test, config, device)
    print(f"seed {seed}, {size} px: cache {cache_s:.0f} s ({2 * len(held.train_labels) / cache_s:.0f} img/s), "
          f"probe {probe_s:.0f} s, linear probe held-out {probe_acc:.4f}", flush=True)
    if budget_s is not None:
        epochs = fit_budget(top, train, config, device, budget_s - cache_s - probe_s)
    curve = Curve(test, config, device, cache_s + probe_s)
    curve.points.append({"epoch": 0, "train_s": round(cache_s + probe_s, 2), "test_acc": probe_acc,
                         "test_images": len(held.test_labels), "stage": "probe"})
    top_s = 0.0
    if epochs > 0:
        start = time.perf_counter()
        train_top(top, train, epochs=epochs, config=config, device=device, seed=seed, callbacks=[curve])
        top_s = time.perf_counter() - start - curve.eval_s
    final = accuracy(top, test, config, device)
    total = cache_s + probe_s + top_s
    curve.points.append({"epoch": epochs, "train_s": round(total, 2), "test_acc": final,
                         "test_images": len(held.test_labels), "final": True})
    print(f"seed {seed}: {total:.0f} s in total (cache {cache_s:.0f}, probe {probe_s:.0f}, top {top_s:.0f}), "
          f"held-out {final:.4f} (probe {probe_acc:.4f})", flush=True)
    return {"seed": seed, "size": size, "epochs": epochs, "cache_s": cache_s, "test_cache_s": test_cache_s,
            "probe_s": probe_s, "top_s": top_s, "train_s": total, "probe_acc": probe_acc, "test_acc": final,
            "cache_images_per_s": 2 * len(held.train_labels) / cache_s, "curve": curve.points,
            "activation_shape": list(train[0].shape[1:])}


def run(data_dir: Path = DEFAULT_DATA, seeds=(0,), size: int = 128, epochs: float | None = None,
        name: str = "transfer", config: CachedConfig | None = None, limit: int | None = None,
        test_limit: int | None = None, budget_s: float | None = 1200.0) -> dict:
    config = config or CachedConfig()
    device = pick_device()
    load_before = uptime()
    held = load_cifar10(data_dir, limit)
    if test_limit:
        held.test_images, held.test_labels = held.test_images[:test_limit], held.test_labels[:test_limit]
    budget_s = None if epochs is not None else budget_s
    runs = [run_seed(seed, held, size, epochs or 0, config, device, budget_s) for seed in seeds]
    accs, probes = np.array([r["test_acc"] for r in runs]), np.array([r["probe_acc"] for r in runs])
    payload = {"recipe": "week 4 EfficientNet-Lite0, cached fine-tuning (solutions/week4/cached_transfer.py)",
               "device": device, "size": size, "epochs": [r["epochs"] for r in runs], "budget_s": budget_s,
               "config": asdict(config), "seeds": list(seeds),
               "train_images": len(held.train_labels), "test_images": len(held.test_labels), "runs": runs,
               "test_acc_mean": float(accs.mean()), "test_acc_min": float(accs.min()),
               "test_acc_max": float(accs.max()), "probe_acc_mean": float(probes.mean()),
               "train_s_mean": float(np.mean([r["train_s"] for r in runs])),
               "load_before": load_before, "load_after": uptime(), "environment": environment()}
    save(name if device == "cpu" else f"{name}_{device}", payload)
    return payload


def resolution_curve(data_dir: Path, sizes, limit: int, config: CachedConfig, name: str = "transfer_resolution"):
    """Linear-probe accuracy and caching cost against the input size, on `limit` training images (2,000 test)."""
    device, load_before, rows = pick_device(), uptime(), []
    held = load_cifar10(data_dir, limit)
    held.test_images, held.test_labels = held.test_images[:QUICK_TEST], held.test_labels[:QUICK_TEST]
    for size in sizes:
        result = run_seed(0, held, size, 0, config, device, None)
        rows.append({"size": size, "probe_acc": result["probe_acc"], "cache_images_per_s": result["cache_images_per_s"],
                     "probe_s": result["probe_s"]})
    payload = {"rows": rows, "train_images": limit, "test_images": QUICK_TEST, "config": asdict(config),
               "load_before": load_before, "load_after": uptime(), "environment": environment()}
    save(name, payload)
    return payload


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--size", type=int, default=128, help="input side in pixels (upsampled from 32)")
    parser.add_argument("--budget-s", type=float, default=1200.0, help="training seconds in total (sets the epochs)")
    parser.add_argument("--epochs", type=float, default=None, help="fixed epochs of the top instead of a budget")
    parser.add_argument("--top-blocks", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None, help="head learning rate (blocks: x backbone_lr_factor)")
    parser.add_argument("--name", default="transfer")
    parser.add_argument("--limit", type=int, default=None, help="first N training images")
    parser.add_argument("--test-limit", type=int, default=None, help="first N held-out images (quick checks)")
    parser.add_argument("--probe-sizes", type=int, nargs="+", default=None, help="accuracy-vs-cost curve instead")
    parser.add_argument("--dry-run", action="store_true", help="1,000 training and 500 test images, 64 px, 1 epoch")
    args = parser.parse_args(argv)
    changes = {k: v for k, v in (("top_blocks", args.top_blocks), ("learning_rate", args.lr)) if v is not None}
    config = replace(CachedConfig(), **changes)
    if args.probe_sizes:
        resolution_curve(args.data, args.probe_sizes, args.limit or 5000, config)
    elif args.dry_run:
        run(args.data, [0], 64, 1, "transfer_dry_run", config, limit=1000, test_limit=500)
    else:
        run(args.data, args.seeds, args.size, args.epochs, args.name, config, args.limit, args.test_limit,
            budget_s=args.budget_s)


if __name__ == "__main__":
    main()
