# Mutant of solutions/week2/data.py: every loader shuffles.
# expect: shuffle=False
"""Week 2 · Exercise 1: From arrays to batches: a custom Dataset and its DataLoaders.

What you will learn
- How a `torch.utils.data.Dataset` turns one stored example (a uint8 (H, W, C) image and an integer label) into
  the tensors a model eats: float32 (C, H, W), normalised, and an int64 label.
- Why normalisation statistics come from the training split only (the validation split stands in for data you
  have never seen; using its pixels to choose the scaling leaks information into training).
- What the `DataLoader` options do: `shuffle` (training only: validation order does not matter and must be
  reproducible), `drop_last` (a last batch of 1 breaks BatchNorm's batch statistics), `num_workers`.

Run it: `python -m solutions.week2.data` prints one batch's shapes and statistics on the embedded dataset.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

MAX_WORKERS = 4  # beyond this, decoding in-memory arrays gains nothing and each worker costs memory


def normalisation_stats(train_images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of uint8 images, on the [0, 1] scale.

    train_images: uint8 (N, H, W, C) — the *training* split only.
    Returns (mean, std), two float32 arrays of shape (C,).
    Example: images that are all 0 in channel 0 and all 255 in channel 1 give mean [0, 1] and std [0, 0].
    """
    images = np.asarray(train_images)
    if images.ndim != 4:
        raise ValueError(f"expected images of shape (N, H, W, C), got shape {images.shape}")
    pixels = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255.0  # (N*H*W, C)
    return pixels.mean(axis=0).astype(np.float32), pixels.std(axis=0).astype(np.float32)


def make_transform(mean, std) -> Callable[[np.ndarray], torch.Tensor]:
    """A transform from one uint8 (H, W, C) image to a normalised float32 (C, H, W) tensor.

    Each channel c becomes (pixel / 255 - mean[c]) / std[c]. torchvision's `v2.ToImage`, `v2.ToDtype(...,
    scale=True)` and `v2.Normalize` do exactly this, or write it with torch operations.
    """
    return v2.Compose([
        v2.ToImage(),                            # (H, W, C) array -> (C, H, W) tensor, still uint8
        v2.ToDtype(torch.float32, scale=True),   # [0, 255] -> [0, 1]
        v2.Normalize(mean=[float(m) for m in mean], std=[float(s) for s in std]),
    ])


class ImageArrayDataset(Dataset):
    """Images and labels held in memory as arrays, served one example at a time.

    images: uint8 (N, H, W, C); labels: integers (N,); transform: a callable from one (H, W, C) uint8 image to a
    float32 (C, H, W) tensor (default: scale to [0, 1] without normalising).
    `dataset[i]` is `(image, label)`: a float32 (C, H, W) tensor and an int64 scalar tensor, the dtype
    `nn.CrossEntropyLoss` expects for class indices. Mismatched lengths raise ValueError.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: Callable | None = None):
        images, labels = np.asarray(images), np.asarray(labels)
        if images.ndim != 4:
            raise ValueError(f"expected images of shape (N, H, W, C), got shape {images.shape}")
        if len(images) != len(labels):
            raise ValueError(f"got {len(images)} images but {len(labels)} labels; they must match one to one")
        self.images = images
        self.labels = labels.astype(np.int64)
        self.transform = transform if transform is not None else make_transform(
            mean=[0.0] * images.shape[-1], std=[1.0] * images.shape[-1])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.transform(self.images[index])                        # (C, H, W) float32
        label = torch.tensor(self.labels[index], dtype=torch.int64)      # () int64
        return image, label


def default_num_workers() -> int:
    """Worker processes for a DataLoader: none on a small machine, where forking costs more than it saves."""
    cores = os.cpu_count() or 1
    return 0 if cores <= 2 else min(MAX_WORKERS, cores // 2)


@dataclass
class Loaders:
    train: DataLoader
    val: DataLoader
    test: DataLoader | None
    mean: np.ndarray  # (C,) the statistics the three loaders normalise with
    std: np.ndarray

    def __iter__(self):  # `train, val, test = make_dataloaders(ds)` also works
        return iter((self.train, self.val, self.test))


def make_dataloaders(ds, batch_size: int = 64, *, num_workers: int | None = None, seed: int = 0) -> Loaders:
    """Train, validation and test DataLoaders for a dataset with `.train`, `.val` (and `.test`) splits.

    ds: e.g. `shared.data.load_dataset("shapes")`; each split has uint8 `images` (N, H, W, C) and `labels` (N,).
    All three splits are normalised with `normalisation_stats(ds.train.images)`. Only the training loader
    shuffles (with a generator seeded by `seed`, so runs repeat) and drops its last incomplete batch;
    validation and test keep every example in their stored order.
    Returns a `Loaders(train, val, test, mean, std)`; `test` is None when `ds` has no test split.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    mean, std = normalisation_stats(ds.train.images)  # training split only: val/test stand for unseen data
    std = np.maximum(std, 1e-6)  # a constant channel would otherwise divide by zero
    transform = make_transform(mean, std)
    workers = default_num_workers() if num_workers is None else num_workers
    options = dict(batch_size=batch_size, num_workers=workers, pin_memory=torch.cuda.is_available(),
                   persistent_workers=workers > 0)

    def loader(split, train: bool) -> DataLoader:
        dataset = ImageArrayDataset(split.images, split.labels, transform)
        generator = torch.Generator().manual_seed(seed) if train else None
        # Dropping the last batch only matters for training (BatchNorm); evaluation must see every example.
        drop_last = train and len(dataset) > batch_size
        return DataLoader(dataset, shuffle=True, drop_last=drop_last, generator=generator, **options)

    test_split = getattr(ds, "test", None)
    return Loaders(train=loader(ds.train, True), val=loader(ds.val, False),
                   test=loader(test_split, False) if test_split is not None else None, mean=mean, std=std)


def main(argv: list[str] | None = None) -> None:
    from shared.data import load_dataset

    parser = argparse.ArgumentParser(description="Print one training batch's shapes and statistics.")
    parser.add_argument("--dry-run", action="store_true", help="a small dataset (the output is the same kind)")
    args = parser.parse_args(argv)
    ds = load_dataset("shapes", size=300 if args.dry_run else None)
    loaders = make_dataloaders(ds, batch_size=32)
    images, labels = next(iter(loaders.train))
    print(f"{ds.name}: {len(ds.train.images)} train / {len(ds.val.images)} val images of shape {ds.image_shape}")
    print(f"batch: images {tuple(images.shape)} {images.dtype}, labels {tuple(labels.shape)} {labels.dtype}")
    print(f"per-channel mean {images.mean(dim=(0, 2, 3)).numpy().round(2)}, "
          f"std {images.std(dim=(0, 2, 3)).numpy().round(2)} (about 0 and 1 after normalisation)")


if __name__ == "__main__":
    main()
