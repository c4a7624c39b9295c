# Mutant of solutions/week3/augmentation.py: the jitter argument is ignored.
# expect: jitter
"""Week 3 · Exercise 3: Data augmentation with torchvision v2, applied to training batches only.

What you will learn
- The three CIFAR classics: random crop after padding (the object shifts by up to `padding` pixels), horizontal
  flip (a mirrored cat is a cat; a mirrored "7" is not a 7, so think about your data) and colour jitter.
- Where augmentation goes: in the *training* loader only. Validation and test images must be the same every time
  you look at them, or the numbers you compare are noise, and a model tuned on augmented validation images is
  tuned on the wrong distribution.
- A vectorised flip + crop (`random_crop_flip`) that augments a whole float batch at once, which is what fast
  recipes (airbench) do instead of per-image transforms.

Keras's twin is a stack of preprocessing layers (`keras_twins.keras_augmentation`): `RandomCrop`, `RandomFlip`,
`RandomBrightness`/`RandomContrast`. They are active only when the model is called with `training=True`, so inside
a model they cannot leak into `evaluate`; put them in the `tf.data` pipeline of the training set and the same rule
as here applies.

Run it: `python -m solutions.week3.augmentation` saves a grid of one image augmented eight ways.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

PADDING = 4          # pixels of reflection padding before the random crop (CIFAR's usual choice)
JITTER = 0.2         # brightness, contrast and saturation vary by up to +-20 %


def make_train_transform(image_size: int, padding: int = PADDING, jitter: float = JITTER) -> v2.Compose:
    """A torchvision v2 pipeline for one uint8 image tensor (C, H, W) -> uint8 (C, H, W) of the same size:
    random crop of `image_size` after `padding` pixels of reflection padding, horizontal flip with p = 0.5, and
    colour jitter (brightness, contrast, saturation by up to `jitter`)."""
    return v2.Compose([
        v2.RandomCrop(image_size, padding=padding, padding_mode="reflect"),
        v2.RandomHorizontalFlip(p=0.5),
        v2.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2),
    ])


class ImageDataset(Dataset):
    """uint8 images (N, H, W, C) and labels (N,) -> normalised float (C, H, W) and an int64 label.

    `transform`, if given, maps a uint8 tensor (C, H, W) to a uint8 tensor (C, H, W) *before* normalisation
    (colour jitter expects pixel values, not z-scores).
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, mean, std, transform=None):
        self.images = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)  # (N, C, H, W) uint8
        self.labels = torch.as_tensor(labels, dtype=torch.int64)
        self.mean = torch.as_tensor(mean, dtype=torch.float32)[:, None, None]              # (C, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32)[:, None, None]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
        return (image.float() / 255 - self.mean) / self.std, self.labels[index]


def make_loaders(ds, batch_size: int, transform=None, train_limit: int | None = None,
                 seed: int = 0) -> tuple[DataLoader, DataLoader, DataLoader]:
    """(train, val, test) loaders over `ds.train`, `ds.val`, `ds.test` (each with `.images` uint8 (N, H, W, C) and
    `.labels`), normalised with the training statistics `ds.mean`, `ds.std`.

    `transform` (a per-image uint8 transform such as `make_train_transform(...)`) is applied to the training set
    only; only the training loader shuffles (with a generator seeded by `seed`). `train_limit` keeps the first
    that many training images (for overfitting experiments).
    """
    images, labels = ds.train.images[:train_limit], ds.train.labels[:train_limit]
    train = ImageDataset(images, labels, ds.mean, ds.std, transform=transform)
    val = ImageDataset(ds.val.images, ds.val.labels, ds.mean, ds.std)
    test = ImageDataset(ds.test.images, ds.test.labels, ds.mean, ds.std)
    generator = torch.Generator().manual_seed(seed)
    return (DataLoader(train, batch_size=batch_size, shuffle=True, generator=generator),
            DataLoader(val, batch_size=batch_size), DataLoader(test, batch_size=batch_size))


def random_crop_flip(images: torch.Tensor, padding: int = PADDING) -> torch.Tensor:
    """Flip and crop a whole float batch (B, C, H, W) at once, each image with its own random choice.

    Pads by reflection, picks a random offset in [0, 2 * padding] per image and gathers the crop with advanced
    indexing; then mirrors a random half of the batch. Same shape out, same dtype.
    """
    batch, _, height, width = images.shape
    padded = F.pad(images, (padding,) * 4, mode="reflect")                    # (B, C, H + 2p, W + 2p)
    dy = torch.randint(0, 2 * padding + 1, (batch,))
    dx = torch.randint(0, 2 * padding + 1, (batch,))
    rows = (dy[:, None] + torch.arange(height))[:, None, :, None]              # (B, 1, H, 1)
    cols = (dx[:, None] + torch.arange(width))[:, None, None, :]               # (B, 1, 1, W)
    crops = padded[torch.arange(batch)[:, None, None, None], torch.arange(images.shape[1])[None, :, None, None],
                   rows, cols]                                                 # (B, C, H, W)
    flip = torch.rand(batch) < 0.5
    crops[flip] = crops[flip].flip(-1)
    return crops


def augment_grid(image: np.ndarray, transform, count: int = 8) -> np.ndarray:
    """One uint8 image (H, W, C) augmented `count` times -> uint8 (count, H, W, C)."""
    tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)   # (C, H, W)
    return np.stack([transform(tensor).permute(1, 2, 0).numpy() for _ in range(count)])


def plot_grid(original: np.ndarray, augmented: np.ndarray, title: str = "one image, augmented eight ways"):
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(augmented) + 1, figsize=(1.4 * (len(augmented) + 1), 1.8))
    for ax, image, name in zip(axes, [original, *augmented], ["original"] + [""] * len(augmented)):
        ax.imshow(image.squeeze(), cmap="gray" if image.shape[-1] == 1 else None)
        ax.set(title=name, xticks=[], yticks=[])
    figure.suptitle(title)
    return figure


def main(argv: list[str] | None = None) -> None:
    from shared.data import load_dataset
    from shared.plots import save_figure

    parser = argparse.ArgumentParser(description="Save a grid of one image augmented eight ways.")
    parser.add_argument("--out", default="reports/week3", help="folder for augmentation_grid.png")
    parser.add_argument("--dry-run", action="store_true", help="the same: it is already quick")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    ds = load_dataset("shapes", size=200, image_size=32, seed=0)
    image = ds.train.images[0]
    grid = augment_grid(image, make_train_transform(image.shape[0]))
    path = save_figure(plot_grid(image, grid), Path(args.out) / "augmentation_grid.png")
    print(f"saved {path}")


if __name__ == "__main__":
    main()
