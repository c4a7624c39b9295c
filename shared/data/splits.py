"""The containers every dataset comes in, the seeded stratified split and the train-only statistics."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

STATS_CHUNK = 4096  # images per chunk when summing pixels, so 50k images never become one float64 array


@dataclass
class Split:
    """One part of a dataset: images uint8 (N, H, W, C) and labels int64 (N,)."""

    images: np.ndarray  # uint8 (N, H, W, C)
    labels: np.ndarray  # int64 (N,)

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, H, W, C), got {self.images.dtype} {self.images.shape}.")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels; they must match.")

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self, num_classes: int) -> np.ndarray:
        return np.bincount(self.labels, minlength=num_classes)

    def subset(self, indices: np.ndarray) -> "Split":
        return Split(np.ascontiguousarray(self.images[indices]), self.labels[indices])


@dataclass
class DatasetSplits:
    """A dataset by name: train/val/test splits, class names and train-only normalisation statistics."""

    name: str
    class_names: list[str]
    train: Split
    val: Split
    test: Split
    mean: np.ndarray = field(default=None)  # float32 (C,), [0, 1] scale, from train only
    std: np.ndarray = field(default=None)   # float32 (C,)
    source: str = ""                        # where the images came from (a file, a folder, "generated")
    notes: list[str] = field(default_factory=list)  # warnings raised while loading (skipped files, ...)

    def __post_init__(self) -> None:
        if self.mean is None or self.std is None:
            self.mean, self.std = channel_stats(self.train.images)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of every image."""
        return tuple(int(d) for d in self.train.images.shape[1:])

    def splits(self) -> dict[str, Split]:
        return {"train": self.train, "val": self.val, "test": self.test}

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in self.splits().items())
        return f"DatasetSplits({self.name!r}, {self.num_classes} classes, image_shape={self.image_shape}, {sizes})"


def channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of uint8 (N, H, W, C) images in [0, 1] scale, as float32 (C,)."""
    if len(images) == 0:
        raise ValueError("cannot compute normalisation statistics of an empty training split.")
    channels = images.shape[-1]
    total = np.zeros(channels)
    total_sq = np.zeros(channels)
    for start in range(0, len(images), STATS_CHUNK):
        chunk = images[start:start + STATS_CHUNK].reshape(-1, channels).astype(np.float64)
        total += chunk.sum(axis=0)
        total_sq += np.square(chunk).sum(axis=0)
    count = images[..., 0].size
    mean = total / count
    var = np.maximum(total_sq / count - mean ** 2, 0.0)
    return (mean / 255.0).astype(np.float32), (np.sqrt(var) / 255.0).astype(np.float32)


def stratified_split(labels: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Split indices of `labels` into len(fractions)+1 parts, class by class, from a seed.

    `fractions` are the sizes of the parts after the first (e.g. (0.1, 0.1) gives 80/10/10). Every class is
    shuffled with its own seeded generator and cut at the same proportions, so the parts keep the class balance
    and the same (labels, seed) always gives the same indices. Indices come back sorted within each part.
    """
    labels = np.asarray(labels)
    if any(f < 0 for f in fractions) or sum(fractions) >= 1:
        raise ValueError(f"split fractions must be >= 0 and sum to less than 1, got {fractions}.")
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        members = np.random.default_rng([seed, int(cls)]).permutation(members)
        cuts = np.round(np.cumsum(fractions) * len(members)).astype(int)
        pieces = np.split(members, len(members) - cuts[::-1])  # the carved parts come from the end
        parts[0].append(pieces[0])
        for i, piece in enumerate(pieces[1:][::-1]):
            parts[i + 1].append(piece)
    return [np.sort(np.concatenate(p)) if p else np.zeros(0, dtype=np.int64) for p in parts]


def stratified_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted indices of a class-balanced, seeded subset of about `size` of `labels`."""
    if size >= len(labels):
        return np.arange(len(labels))
    return stratified_split(labels, (size / len(labels),), seed)[1]
