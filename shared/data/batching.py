"""What both framework adapters share, with no framework imported: the epoch order and its batches."""
from __future__ import annotations

import numpy as np


def epoch_order(count: int, seed: int, epoch: int) -> np.ndarray:
    """The order in which a training loader visits `count` examples in `epoch` (the same in both frameworks)."""
    return np.random.default_rng([seed, epoch]).permutation(count)


def batch_indices(count: int, batch_size: int, *, shuffle: bool, seed: int, epoch: int,
                  drop_last: bool = False) -> list[np.ndarray]:
    """The index batches of one epoch: shuffled with `epoch_order`, or in order."""
    order = epoch_order(count, seed, epoch) if shuffle else np.arange(count)
    stop = count - count % batch_size if drop_last else count
    return [order[start:start + batch_size] for start in range(0, stop, batch_size)]
