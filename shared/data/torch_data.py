"""PyTorch side of the data layer: a Dataset over uint8 arrays and a DataLoader factory.

The preprocessing is the same as `shared.data.keras_data` (so both frameworks see the same numbers):
uint8 -> optional `augment` (training only) -> float in [0, 1] -> optional resize -> (x - mean) / std.
Batches come out as float32 (B, C, H, W) and int64 (B,).

Speed: the dataset works on whole batches (it is indexed with a list of indices), so converting and normalising
is a few vectorised tensor operations per batch, not per image. For in-memory arrays that is fast enough that
worker processes only add overhead on a small machine; `num_workers=0` is the default (see bench/).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from shared.data import Preprocessing
from shared.data.batching import batch_indices, epoch_order
from shared.data.input_spec import InputSpec, check_feeds, input_spec
from shared.data.splits import Split

__all__ = ["ArrayDataset", "EpochBatchSampler", "epoch_order", "make_loader"]


class EpochBatchSampler(Sampler):
    """Yields index batches; each new pass over it is the next epoch, with its own seeded order.

    shard=(rank, world_size): data parallelism. Each global batch of `batch_size` indices is dealt out, rank r
    taking positions r, r + world_size, ...; a last batch too small to give every rank one index is dropped, so
    that every rank takes the same number of steps. Together the ranks see exactly the one-process batches.
    """

    def __init__(self, count: int, batch_size: int, *, shuffle: bool, seed: int = 0, drop_last: bool = False,
                 shard: tuple[int, int] | None = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        self.count, self.batch_size, self.shuffle, self.seed, self.drop_last = count, batch_size, shuffle, seed, drop_last
        self.rank, self.world_size = shard or (0, 1)
        self.epoch = 0

    def _batches(self, epoch: int) -> list[np.ndarray]:
        batches = batch_indices(self.count, self.batch_size, shuffle=self.shuffle, seed=self.seed, epoch=epoch,
                                drop_last=self.drop_last)
        return [batch[self.rank::self.world_size] for batch in batches if len(batch) >= self.world_size]

    def __iter__(self):
        batches = self._batches(self.epoch)
        self.epoch += 1
        return iter([b.tolist() for b in batches])

    def __len__(self) -> int:
        return len(self._batches(0))


class ArrayDataset(Dataset):
    """A Dataset over uint8 (N, H, W, C) images: `ds[i]` is one (C, H, W) example, `ds[[i, j, ...]]` a batch.

    augment: optional callable applied to each training image as a uint8 (C, H, W) tensor (e.g. a torchvision
             v2 transform such as `v2.Compose([v2.RandomHorizontalFlip(), v2.RandomCrop(32, padding=4)])`);
             it may return uint8 or float in [0, 1]. Randomness comes from torch's global generator.
    spec:    the model's InputSpec (shared.data.input_spec); default: decided from mean/std/preprocessing.
    """

    def __init__(self, split: Split, *, mean=None, std=None, preprocessing: Preprocessing | None = None,
                 augment: Callable | None = None, spec: InputSpec | None = None):
        self.images = torch.from_numpy(np.ascontiguousarray(split.images))  # uint8 (N, H, W, C), shared memory
        self.labels = torch.from_numpy(np.asarray(split.labels, dtype=np.int64))
        self.spec = spec or input_spec(split.images.shape[1:], mean, std, preprocessing)
        check_feeds(split.images.shape, self.spec)
        mean, std = np.asarray(self.spec.mean, np.float32), np.asarray(self.spec.std, np.float32)
        self.mean, self.std = mean.tolist(), std.tolist()
        self.size, self.channels = (self.spec.height, self.spec.width), self.spec.channels
        self._scale = (1.0 / (255.0 * std)).astype(np.float32)   # x / 255 / std - mean / std, per channel
        self._shift = (mean / std).astype(np.float32)
        self.augment = augment

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            images, labels = self._batch([int(index)])
            return images[0], labels[0]
        return self._batch(index)

    def _batch(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        indices = torch.as_tensor(indices, dtype=torch.long)
        plain = (self.augment is None and self.channels == self.images.shape[-1]
                 and tuple(self.images.shape[1:3]) == self.size)
        if plain:
            return self._plain_batch(indices), self.labels[indices]
        images = self.images[indices].permute(0, 3, 1, 2)                     # uint8 (B, C, H, W)
        if self.augment is not None:
            images = torch.stack([_as_unit_float(self.augment(image)) for image in images])
        images = _as_unit_float(images)                                     # float32 (B, C, H, W) in [0, 1]
        if images.shape[1] != self.channels:
            images = images.expand(-1, self.channels, -1, -1)                 # gray -> RGB for the backbone
        if tuple(images.shape[-2:]) != self.size:
            images = F.resize(images, list(self.size), interpolation=v2.InterpolationMode.BILINEAR, antialias=True)
        images = F.normalize(images, self.mean, self.std)
        return images, self.labels[indices]


    def _plain_batch(self, indices: torch.Tensor) -> torch.Tensor:
        """(x / 255 - mean) / std in numpy: single-threaded, so it stays fast when torch's threads are busy
        training (tiny multi-threaded tensor ops slow down badly on a loaded 2-core machine)."""
        images = self.images.numpy()[indices.numpy()].astype(np.float32)          # (B, H, W, C)
        images *= self._scale
        images -= self._shift
        return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))  # (B, C, H, W)


def _as_unit_float(images) -> torch.Tensor:
    images = torch.as_tensor(images)
    if images.dtype == torch.uint8:
        return F.to_dtype(images, torch.float32, scale=True)
    return images.to(torch.float32).contiguous()


def make_loader(split: Split, batch_size: int = 64, train: bool = False, *, mean=None, std=None,
                preprocessing: Preprocessing | None = None, augment: Callable | None = None, seed: int = 0,
                num_workers: int = 0, drop_last: bool = False, spec: InputSpec | None = None,
                shard: tuple[int, int] | None = None) -> DataLoader:
    """A DataLoader yielding float32 (B, C, H, W) images and int64 (B,) labels from a `Split`.

    train=True shuffles with a seeded order per epoch (the same order `keras_data.make_dataset` uses) and
    applies `augment`; train=False keeps the split's order and never augments. `preprocessing` (a backbone's
    size/mean/std) overrides `mean`/`std`; `spec` (an InputSpec) overrides both. `shard=(rank, world_size)`
    gives a data-parallel rank its share of every training batch (see EpochBatchSampler).
    """
    dataset = ArrayDataset(split, mean=mean, std=std, preprocessing=preprocessing,
                           augment=augment if train else None, spec=spec)
    sampler = EpochBatchSampler(len(dataset), batch_size, shuffle=train, seed=seed, drop_last=drop_last and train,
                                shard=shard if train else None)
    # batch_size=None: the sampler yields whole index lists and the dataset returns ready batches
    return DataLoader(dataset, batch_size=None, sampler=sampler, num_workers=num_workers,
                      persistent_workers=num_workers > 0)
