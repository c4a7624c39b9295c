"""What a model takes in, decided once: the `InputSpec` that loaders, checkpoints, the report and the API share.

    spec = input_spec(dataset.image_shape, dataset.mean, dataset.std, preprocessing)   # one decision
    make_loader(split, spec=spec) / make_dataset(split, spec=spec)                      # what training sees
    Manifest(..., input=spec.as_dict())                                                  # what serving repeats

A model's input is images of `spec.shape` = (height, width, channels), scaled to [0, 1], then normalised with
(x - mean) / std per channel. A backbone's `Preprocessing` (its size, mean and std) overrides the dataset's own
statistics, and a grayscale dataset fed to an RGB backbone gets its gray channel repeated three times, so the
spec says 3 channels: the number the model really sees, and `source_channels` 1: what was repeated (so that
serving turns any picture grey first, as training saw it).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class InputSpec:
    height: int
    width: int
    channels: int
    mean: tuple[float, ...]   # per channel, [0, 1] pixel scale
    std: tuple[float, ...]    # per channel, > 0
    source_channels: int | None = None   # channels of the images before any repeat (None: `channels`)

    def __post_init__(self) -> None:
        if min(self.height, self.width, self.channels) < 1:
            raise ValueError(f"an input shape needs positive sizes, got {self.shape}.")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(f"mean and std need one value per channel ({self.channels}), got {len(self.mean)} and "
                             f"{len(self.std)}. A grayscale dataset with an RGB backbone needs 3-channel statistics.")
        if not all(np.isfinite(self.mean)) or not all(np.isfinite(s) and s > 0 for s in self.std):
            raise ValueError(f"mean must be finite and std positive in every channel, got {self.mean}, {self.std}.")
        if self.source_channels is None:
            object.__setattr__(self, "source_channels", self.channels)
        if self.source_channels not in (self.channels, 1):
            raise ValueError(f"only grey images are repeated into channels; got {self.source_channels} source "
                             f"channels for a {self.channels}-channel input.")

    @property
    def shape(self) -> tuple[int, int, int]:
        """(height, width, channels): what builders take as `input_shape`."""
        return (self.height, self.width, self.channels)

    def as_dict(self) -> dict:
        values = {"shape": list(self.shape), "mean": list(self.mean), "std": list(self.std)}
        if self.source_channels != self.channels:
            values["source_channels"] = self.source_channels
        return values

    @classmethod
    def from_dict(cls, values: dict) -> "InputSpec":
        height, width, channels = (int(v) for v in values["shape"])
        source = values.get("source_channels")
        return cls(height, width, channels, tuple(float(v) for v in values["mean"]),
                   tuple(float(v) for v in values["std"]), None if source is None else int(source))


def input_spec(image_shape, mean=None, std=None, preprocessing=None) -> InputSpec:
    """The spec for images of `image_shape` (H, W, C) with the dataset's `mean`/`std`, or a backbone's
    `preprocessing` (size, mean, std) when given. No statistics: mean 0, std 1 (pixels in [0, 1])."""
    height, width, channels = (int(v) for v in image_shape)
    source = channels
    if preprocessing is not None:
        mean, std = preprocessing.mean, preprocessing.std
        if preprocessing.size:
            height = width = int(preprocessing.size)
        if channels == 1 and len(mean) == 3:
            channels = 3                      # gray repeated into RGB for the backbone
    mean = np.zeros(channels) if mean is None else np.asarray(mean, dtype=np.float32).reshape(-1)
    std = np.ones(channels) if std is None else np.asarray(std, dtype=np.float32).reshape(-1)
    return InputSpec(height, width, channels, tuple(float(v) for v in mean), tuple(float(v) for v in std), source)


def check_feeds(image_shape, spec: InputSpec) -> None:
    """ValueError unless images of `image_shape` can be fed as `spec` (same channels, or gray -> RGB)."""
    channels = int(image_shape[-1])
    if channels != spec.channels and not (channels == 1 and spec.channels == 3):
        raise ValueError(f"images with {channels} channel(s) cannot be fed to a model that takes {spec.channels}.")
