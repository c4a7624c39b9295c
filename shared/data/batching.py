"""What both framework adapters share, with no framework imported: the epoch order and the normalisation."""
from __future__ import annotations

import numpy as np

from shared.data import Preprocessing


def epoch_order(count: int, seed: int, epoch: int) -> np.ndarray:
    """The order in which a training loader visits `count` examples in `epoch` (the same in both frameworks)."""
    return np.random.default_rng([seed, epoch]).permutation(count)


def batch_indices(count: int, batch_size: int, *, shuffle: bool, seed: int, epoch: int,
                  drop_last: bool = False) -> list[np.ndarray]:
    """The index batches of one epoch: shuffled with `epoch_order`, or in order."""
    order = epoch_order(count, seed, epoch) if shuffle else np.arange(count)
    stop = count - count % batch_size if drop_last else count
    return [order[start:start + batch_size] for start in range(0, stop, batch_size)]


def resolve_normalisation(mean, std, preprocessing: Preprocessing | None, channels: int):
    """The (mean, std, size) a loader applies: the backbone's when `preprocessing` is given, else `mean`/`std`.

    A grayscale dataset with a 3-channel backbone is fine: the loaders repeat the gray channel (see
    `output_channels`).
    """
    size = None
    if preprocessing is not None:
        mean, std, size = preprocessing.mean, preprocessing.std, preprocessing.size
        channels = output_channels(channels, preprocessing)
    if mean is None:
        mean = np.zeros(channels, dtype=np.float32)
    if std is None:
        std = np.ones(channels, dtype=np.float32)
    mean = np.asarray(mean, dtype=np.float32).reshape(-1)
    std = np.asarray(std, dtype=np.float32).reshape(-1)
    if len(mean) != channels or len(std) != channels:
        raise ValueError(f"mean and std need one value per channel ({channels}), got {len(mean)} and {len(std)}. "
                         "A grayscale dataset with an RGB backbone needs its images converted to 3 channels.")
    if np.any(std <= 0):
        raise ValueError(f"std must be positive in every channel, got {std.tolist()}.")
    return mean, std, size


def output_channels(channels: int, preprocessing: Preprocessing | None) -> int:
    """Channels a loader yields: 3 for grayscale images fed to an RGB backbone, else the images' own."""
    if preprocessing is not None and channels == 1 and len(preprocessing.mean) == 3:
        return 3
    return channels
