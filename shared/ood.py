"""Is this image like the ones the model was trained on? A simple, honest out-of-distribution signal.

    stats = training_stats(dataset.train.images)        # at training time; saved in the checkpoint's manifest
    far = stats.distance(pixels) > stats.threshold       # at serving time, for uint8 (H, W, C) pixels
    note = caution(probabilities.max(), class_names, far)   # the sentence a user reads, or None

A classifier always answers with one of its classes, even for a holiday photo sent to a model of drawn shapes.
Two signals say when not to trust that answer:
- confidence: the best softmax probability is below LOW_CONFIDENCE(k) = (1 + 1/k) / 2, that is closer to a guess
  among the k classes than to certainty (55% for 10 classes);
- familiarity: each image is summarised by FEATURES (per-channel mean and spread, colour saturation, edge and
  fine-detail strength), computed at the training images' own size; the training set's features give a mean and
  covariance, and an image's Mahalanobis distance from them is compared with the distance that only 0.5% of the
  training images exceed (THRESHOLD_QUANTILE). Further than that: "unlike the training images".
Neither signal proves an answer right or wrong: a familiar-looking image can still be misclassified, and a
model can be confidently wrong. They catch the plain cases (a photo sent to `shapes`, a blank or noisy image).
Measured by bench/ood_signal.py (2,000 training images): a `shapes` summary flags 98% of CIFAR-10 photos, all
noise and flat images, and 0.4% of held-out shapes; a CIFAR-10 summary flags 0.9% of held-out photos and 62% of
shapes images (bright, but photo-like in their statistics).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

VERSION = 1
THRESHOLD_QUANTILE = 0.995     # the training images' own distance that marks "far"
MAX_IMAGES = 5000              # training images summarised (a seeded subset of larger sets)
CHUNK = 256
RIDGE = 1e-3                   # added to the covariance's diagonal (relative), so constant features stay finite


def feature_names(channels: int) -> list[str]:
    means = [f"mean_{c}" for c in range(channels)]
    spreads = [f"std_{c}" for c in range(channels)]
    return [*means, *spreads, *(["saturation"] if channels == 3 else []), "edges", "detail"]


def image_features(images: np.ndarray) -> np.ndarray:
    """float64 (N, F): FEATURES of uint8 images (N, H, W, C), C = 1 or 3, all scaled to [0, 1] first."""
    x = np.asarray(images, dtype=np.float32) / 255.0
    if x.ndim != 4 or x.shape[-1] not in (1, 3) or min(x.shape[1:3]) < 3:
        raise ValueError(f"expected images (N, H, W, 1 or 3) of at least 3x3 pixels, got {x.shape}")
    columns = [x.mean(axis=(1, 2)), x.std(axis=(1, 2))]
    if x.shape[-1] == 3:
        high, low = x.max(axis=-1), x.min(axis=-1)
        columns.append(((high - low) / np.maximum(high, 1e-6)).mean(axis=(1, 2))[:, None])
    grey = x.mean(axis=-1)
    edges = np.abs(np.diff(grey, axis=1)).mean(axis=(1, 2)) + np.abs(np.diff(grey, axis=2)).mean(axis=(1, 2))
    centre = grey[:, 1:-1, 1:-1]
    detail = np.abs(4 * centre - grey[:, :-2, 1:-1] - grey[:, 2:, 1:-1] - grey[:, 1:-1, :-2] - grey[:, 1:-1, 2:])
    columns += [edges[:, None], detail.mean(axis=(1, 2))[:, None]]
    return np.concatenate(columns, axis=1).astype(np.float64)


@dataclass(frozen=True)
class TrainingStats:
    """What the training images look like, summarised: stored as `training_stats` in a checkpoint's manifest."""

    height: int                  # the training images' size: uploads are resized to it before comparing
    width: int
    channels: int
    mean: tuple[float, ...]      # (F,) feature means
    precision: tuple[tuple[float, ...], ...]   # (F, F) inverse covariance (with RIDGE)
    threshold: float             # distance above which an image counts as unlike the training images
    count: int                   # training images summarised

    def __post_init__(self) -> None:
        features = len(feature_names(self.channels)) if self.channels in (1, 3) else -1
        matrix = np.asarray(self.precision, dtype=np.float64)
        problems = [
            "channels must be 1 or 3" if features < 0 else "",
            "height and width must be 3 to 4096" if not (3 <= self.height <= 4096 and 3 <= self.width <= 4096) else "",
            f"mean must hold {features} finite numbers" if len(self.mean) != features or
            not np.isfinite(self.mean).all() else "",
            f"precision must be a finite symmetric {features}x{features} matrix" if matrix.shape != (features,) * 2
            or not np.isfinite(matrix).all() or not np.allclose(matrix, matrix.T, rtol=1e-6, atol=1e-9) else "",
            "threshold must be a positive finite number" if not (math.isfinite(self.threshold) and self.threshold > 0)
            else "",
            "count must be a positive integer" if not (isinstance(self.count, int) and self.count > 0) else ""]
        problems = [p for p in problems if p]
        if problems:
            raise ValueError("; ".join(problems))

    def distances(self, images: np.ndarray) -> np.ndarray:
        """(N,) Mahalanobis distances of uint8 images (N, height, width, channels) from the training images."""
        difference = image_features(images) - np.asarray(self.mean)
        squared = np.einsum("nf,fg,ng->n", difference, np.asarray(self.precision), difference)
        return np.sqrt(np.maximum(squared, 0.0))

    def distance(self, pixels: np.ndarray) -> float:
        """The distance of one uint8 image (height, width, channels)."""
        return float(self.distances(np.asarray(pixels)[None])[0])

    def as_dict(self) -> dict:
        return {"version": VERSION, "size": [self.height, self.width], "channels": self.channels,
                "features": feature_names(self.channels), "mean": list(self.mean),
                "precision": [list(row) for row in self.precision], "threshold": self.threshold,
                "count": self.count}

    @classmethod
    def from_dict(cls, values: dict) -> "TrainingStats":
        """Strict: ValueError (with what is wrong) for anything but what as_dict writes."""
        if not isinstance(values, dict) or values.get("version") != VERSION:
            raise ValueError(f"it must be an object with version {VERSION}")
        channels = values.get("channels")
        if values.get("features") != feature_names(channels if channels in (1, 3) else 3):
            raise ValueError(f"its features must be the {len(feature_names(3))} that version {VERSION} computes for "
                             f"3 channels ({len(feature_names(1))} for 1), with channels 1 or 3")
        height, width = (int(v) for v in values["size"])
        return cls(height, width, int(channels), tuple(float(v) for v in values["mean"]),
                   tuple(tuple(float(v) for v in row) for row in values["precision"]), float(values["threshold"]),
                   values["count"])


def training_stats(images: np.ndarray, seed: int = 0) -> TrainingStats:
    """Summarise uint8 training images (N, H, W, C): feature mean, precision, and the THRESHOLD_QUANTILE distance."""
    images = np.asarray(images)
    if len(images) > MAX_IMAGES:
        images = images[np.sort(np.random.default_rng(seed).choice(len(images), MAX_IMAGES, replace=False))]
    features = np.concatenate([image_features(images[i:i + CHUNK]) for i in range(0, len(images), CHUNK)])
    mean = features.mean(axis=0)
    covariance = np.atleast_2d(np.cov(features, rowvar=False)) if len(features) > 1 else np.eye(len(mean))
    covariance += np.diag(RIDGE * np.diag(covariance) + 1e-12)
    precision = np.linalg.inv(covariance)
    precision = (precision + precision.T) / 2
    difference = features - mean
    distances = np.sqrt(np.maximum(np.einsum("nf,fg,ng->n", difference, precision, difference), 0.0))
    threshold = float(np.quantile(distances, THRESHOLD_QUANTILE)) if len(distances) > 1 else 1.0
    height, width, channels = images.shape[1:]
    return TrainingStats(int(height), int(width), int(channels), tuple(map(float, mean)),
                         tuple(tuple(map(float, row)) for row in precision), max(threshold, 1e-6), len(images))


# ------------------------------------------------------------------------------------------------ the words
def low_confidence(num_classes: int) -> float:
    """The best probability below which an answer is closer to a guess among the classes than to certainty."""
    return (1 + 1 / max(1, num_classes)) / 2


def known_classes(class_names: list[str], limit: int = 12) -> str:
    shown = ", ".join(class_names[:limit])
    return shown + (f" and {len(class_names) - limit} more" if len(class_names) > limit else "")


def caution(top_probability: float, class_names: list[str], far: bool) -> str | None:
    """Two sentences when the answer should not be trusted (far: the image is unlike the training images), else
    None."""
    unsure = top_probability < low_confidence(len(class_names))
    if not (far or unsure):
        return None
    reasons = []
    if far:
        reasons.append(f"this image looks unlike the images it was trained on (its colours, contrast and texture "
                       f"are further from theirs than {100 * THRESHOLD_QUANTILE:g}% of them)")
    if unsure:
        reasons.append(f"its best guess has only {100 * top_probability:.0f}%")
    return (f"The model only knows these classes: {known_classes(class_names)}. Treat this answer as a guess: "
            + " and ".join(reasons) + ".")
