"""From scratch vs transfer on real CIFAR-10, at 10, 50, 100, 500 and all training images per class.

Subsets: `solutions.week4.data_efficiency.sample_per_class` (class-balanced, nested, seed 0) of the 40,000
training images; every point is scored on the same 10,000 held-out images (bench/common.py).
- From scratch: week 3's recipe (`train_recipe`, which shrinks the batch for small sets), for min(100,
  M / N) epochs (at least 10; M = `--max-images`, 400,000 by default): small sets get many epochs, at most ten epochs' worth of the full set is
  spent on any point. Multi-crop TTA.
- Transfer: Lite0's frozen bottom runs once over all 40,000 images (and their mirror images) at `--size` px; each
  subset then gets the linear probe and the cached fine-tuning of the top blocks (epochs as above, at most
  `--top-epochs`), flip TTA.

    python -m bench.data_efficiency --size 128         # ~1 hour on 2 cores (AVX-512 BF16)
    python -m bench.data_efficiency --size 64 --max-images 100000   # ~35 min on an AVX2-only 2-core CPU
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from bench.common import DEFAULT_DATA, device as pick_device, environment, load_cifar10, save, uptime
from bench.improved_cnn import accuracy as scratch_accuracy, prepare
from bench.transfer import accuracy as transfer_accuracy, upsampled
from shared.data import Split
from solutions.week3.airbench_tricks import multicrop_logits
from solutions.week3.improved_cnn import RecipeConfig, build_resnet_cnn, train_recipe
from solutions.week4.cached_transfer import CachedConfig, cache_activations, fit_head, split_backbone, train_top
from solutions.week4.data_efficiency import sample_per_class
from solutions.week4.heads import build_transfer_model

PER_CLASS = (10, 50, 100, 500, None)
MAX_IMAGES = 400_000      # images processed per scratch point, at most (10 epochs of the full set)


def scratch_epochs(images: int, max_images: int = MAX_IMAGES) -> float:
    """Many epochs for small sets, at most `max_images` images processed (and at least 10, at most 100 epochs)."""
    return max(10.0, min(100.0, max_images / images))


def scratch_point(index: np.ndarray, data: dict, seed: int, max_images: int = MAX_IMAGES) -> float:
    config, epochs = RecipeConfig(), scratch_epochs(len(index), max_images)
    torch.manual_seed(seed)
    model = build_resnet_cnn(10, (32, 32, 3), widths=config.widths).to(data["device"])
    subset = torch.utils.data.TensorDataset(data["train_x"][index], data["train_y"][index])
    loader = torch.utils.data.DataLoader(subset, batch_size=config.batch_size)   # the recipe shrinks it if needed
    train_recipe(model, loader, None, epochs=epochs, config=config, seed=seed)
    return scratch_accuracy(model, data["test_x"], data["test_y"], multicrop_logits, config.bf16)


def run(data_dir: Path = DEFAULT_DATA, size: int = 128, top_epochs: float = 6, seed: int = 0,
        per_class=PER_CLASS, scratch_all: float | None = None, limit: int | None = None,
        test_limit: int | None = None, name: str = "data_efficiency", max_images: int = MAX_IMAGES) -> dict:
    device, load_before = pick_device(), uptime()
    held = load_cifar10(data_dir, limit)
    data = prepare(data_dir, limit, device)
    if test_limit:
        held.test_images, held.test_labels = held.test_images[:test_limit], held.test_labels[:test_limit]
        data["test_x"], data["test_y"] = data["test_x"][:test_limit], data["test_y"][:test_limit]
    model, preprocessing = build_transfer_model(10, image_size=size)
    config = CachedConfig()
    norm = (preprocessing.mean, preprocessing.std)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    bottom, top = split_backbone(model.to(device), config.top_blocks)
    start = time.perf_counter()
    train = cache_activations(bottom, upsampled(held.train_images, held.train_labels, size, *norm), device=device)
    test = cache_activations(bottom, upsampled(held.test_images, held.test_labels, size, *norm), device=device)
    print(f"cached {size} px activations in {time.perf_counter() - start:.0f} s", flush=True)
    rows, split = [], Split(held.train_images, held.train_labels)
    for count in per_class:
        chosen = np.arange(len(split)) if count is None else _indices(split, count, seed)
        index = torch.from_numpy(chosen)
        row = {"per_class": count or len(chosen) // 10, "images": len(chosen)}
        model.load_state_dict(initial)
        subset = tuple(t[index] if t is not None else None for t in train)
        fit_head(top, subset, config, device, seed)
        row["probe_acc"] = transfer_accuracy(top, test, config, device)
        epochs = min(top_epochs, max(2.0, max_images / 40 / len(chosen)))
        train_top(top, subset, epochs=epochs, config=config, device=device, seed=seed)
        row["fine_tuned_acc"] = transfer_accuracy(top, test, config, device)
        if count is None and scratch_all is not None:
            row["scratch_acc"] = scratch_all
        else:
            row["scratch_acc"] = scratch_point(index.to(data["train_x"].device), data, seed, max_images)
            row["scratch_epochs"] = round(scratch_epochs(len(chosen), max_images), 1)
        rows.append(row)
        print(row, flush=True)
    payload = {"rows": rows, "size": size, "seed": seed, "top_epochs": top_epochs, "max_images": max_images,
               "notes": f"Transfer at {size} px; scratch 'all' is "
                        + ("the 8-minute result (bench/improved_cnn.py)" if scratch_all is not None else
                           "10 epochs of the recipe") + f". From scratch: at most {max_images:,} images processed per "
                        "point (10-100 epochs). One seed.",
               "load_before": load_before, "load_after": uptime(), "environment": environment()}
    save(name, payload)
    return payload


class _Rows(Split):
    """A Split whose `subset` returns the row indices it was asked for, instead of a copy of those rows."""

    def subset(self, indices: np.ndarray) -> np.ndarray:
        return np.asarray(indices)


def _indices(split: Split, per_class: int, seed: int) -> np.ndarray:
    """The rows of `split` that week 4's sample_per_class keeps (class-balanced, nested across counts)."""
    return sample_per_class(_Rows(split.images, split.labels), per_class, seed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--top-epochs", type=float, default=6)
    parser.add_argument("--per-class", type=int, nargs="+", default=None, help="0 means all")
    parser.add_argument("--max-images", type=int, default=MAX_IMAGES,
                        help="images processed per from-scratch point, at most (a slower CPU: 100000)")
    parser.add_argument("--dry-run", action="store_true", help="1,000 training and 500 test images, 64 px")
    args = parser.parse_args(argv)
    per_class = tuple(None if c == 0 else c for c in args.per_class) if args.per_class else PER_CLASS
    if args.dry_run:
        run(args.data, 64, 1, per_class=(10, None), limit=1000, test_limit=500, name="data_efficiency_dry_run")
    else:
        from bench.common import load_all

        scratch = load_all().get("improved_cnn")   # the 'all' point: the 8-minute run's mean, when measured
        run(args.data, args.size, args.top_epochs, per_class=per_class, max_images=args.max_images,
            scratch_all=scratch["test_acc_mean"] if scratch else None)


if __name__ == "__main__":
    main()
