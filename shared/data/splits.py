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
    """Per-channel mean and std of uint8 (N, H, W, C) images in [0, 1] scale, as float32 (C,).

    Counts each channel's 256 pixel values (exact, and much faster than summing floats), then takes the
    mean and standard deviation of that histogram.
    """
    if len(images) == 0:
        raise ValueError("cannot compute normalisation statistics of an empty training split.")
    channels = images.shape[-1]
    histogram = np.zeros((channels, 256), dtype=np.int64)
    for start in range(0, len(images), STATS_CHUNK):
        pixels = np.asarray(images[start:start + STATS_CHUNK]).reshape(-1, channels)
        for c in range(channels):
            histogram[c] += np.bincount(pixels[:, c], minlength=256)
    values = np.arange(256) / 255.0
    count = histogram.sum(axis=1)
    mean = histogram @ values / count
    var = histogram @ values ** 2 / count - mean ** 2
    return mean.astype(np.float32), np.sqrt(np.maximum(var, 0.0)).astype(np.float32)


def stratified_split(labels: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Split indices of `labels` into len(fractions)+1 parts, class by class, from a seed.

    `fractions` are the sizes of the parts after the first (e.g. (0.1, 0.1) gives 80/10/10). Each part gets
    round(fraction * N) indices in total, shared out over the classes in proportion to their sizes (largest
    remainders first), so the parts keep the class balance even when classes are small. Every class is shuffled
    with its own seeded generator; the same (labels, fractions, seed) always gives the same parts, each sorted.
    """
    labels = np.asarray(labels)
    if any(f < 0 for f in fractions) or sum(fractions) >= 1:
        raise ValueError(f"split fractions must be >= 0 and sum to less than 1, got {fractions}.")
    classes, class_sizes = np.unique(labels, return_counts=True)
    members = [np.random.default_rng([seed, int(c)]).permutation(np.flatnonzero(labels == c)) for c in classes]
    remaining = class_sizes.copy()
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for k, fraction in enumerate(fractions):
        counts = _share(round(fraction * len(labels)), fraction * class_sizes, remaining)
        for c in range(len(classes)):
            stop = remaining[c]
            parts[k].append(members[c][stop - counts[c]:stop])   # carved parts come from the end
        remaining -= counts
    first = [members[c][:remaining[c]] for c in range(len(classes))]
    return [np.sort(np.concatenate(p)).astype(np.int64) if len(p) else np.zeros(0, dtype=np.int64)
            for p in [first, *parts]]


def _share(total: int, ideal: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Integers close to `ideal` (per class) that sum to `total`, each at most `cap`: largest remainders first."""
    counts = np.minimum(np.floor(ideal).astype(np.int64), cap)
    order = np.argsort(-(ideal - np.floor(ideal)), kind="stable")
    for c in order:
        if counts.sum() >= total:
            break
        if counts[c] < cap[c]:
            counts[c] += 1
    return counts


def stratified_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted indices of a class-balanced, seeded subset of about `size` of `labels`."""
    if size >= len(labels):
        return np.arange(len(labels))
    return stratified_split(labels, (size / len(labels),), seed)[1]
