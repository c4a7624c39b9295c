# + active="ipynb"
# # Notebook set-up (a comment in the .py file): find the workbook from the repository root, and let
# # `from .x import y` lines import your other week2 files, as `python -m weeks.week2.data` does.
# import sys, pathlib; sys.path.insert(0, str(pathlib.Path.cwd().parents[1]))
# __package__ = "weeks.week2"
# -

# Exercise generated from solutions/week2/data.py by `workbook release`: fill in each `# YOUR CODE HERE`.
"""Week 2 · Exercise 1: From arrays to batches: a custom Dataset and its DataLoaders.

What you will learn
- How a `torch.utils.data.Dataset` turns one stored example (a uint8 (H, W, C) image and an integer label) into
  the tensors a model eats: float32 (C, H, W), normalised, and an int64 label.
- Why normalisation statistics come from the training split only (the validation split stands in for data you
  have never seen; using its pixels to choose the scaling leaks information into training).
- What the `DataLoader` options do: `shuffle` (training only: validation order does not matter and must be
  reproducible), `drop_last` (a last batch of 1 breaks BatchNorm's batch statistics), `num_workers`.

Run it: `python -m weeks.week2.data` prints one batch's shapes and statistics on the embedded dataset.
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
    # YOUR CODE HERE
    raise NotImplementedError()


def make_transform(mean, std) -> Callable[[np.ndarray], torch.Tensor]:
    """A transform from one uint8 (H, W, C) image to a normalised float32 (C, H, W) tensor.

    Each channel c becomes (pixel / 255 - mean[c]) / std[c]. torchvision's `v2.ToImage`, `v2.ToDtype(...,
    scale=True)` and `v2.Normalize` do exactly this, or write it with torch operations.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


class ImageArrayDataset(Dataset):
    """Images and labels held in memory as arrays, served one example at a time.

    images: uint8 (N, H, W, C); labels: integers (N,); transform: a callable from one (H, W, C) uint8 image to a
    float32 (C, H, W) tensor (default: scale to [0, 1] without normalising).
    `dataset[i]` is `(image, label)`: a float32 (C, H, W) tensor and an int64 scalar tensor, the dtype
    `nn.CrossEntropyLoss` expects for class indices. Mismatched lengths raise ValueError.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: Callable | None = None):
        # YOUR CODE HERE
        raise NotImplementedError()

    def __len__(self) -> int:
        # YOUR CODE HERE
        raise NotImplementedError()

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        # YOUR CODE HERE
        raise NotImplementedError()


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
    # YOUR CODE HERE
    raise NotImplementedError()


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


# + active="py"
if __name__ == "__main__":
    main()
# -


# ## Check your work
# The cell below runs this exercise's autograder tests on `weeks/week2/data.py` as saved, and prints the
# scoreboard: save the notebook first (Ctrl+S). From a terminal: `pytest autograder/week2/test_data.py`.

# + active="ipynb"
# from shared.grading.notebook import grade
# grade("week2", "data", globals())
