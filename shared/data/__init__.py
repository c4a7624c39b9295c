"""One dataset interface for every week and for the comparison report.

    from shared.data import load_dataset
    ds = load_dataset("shapes", size=2000, image_size=32, seed=0)
    ds.train.images   # uint8 (N, H, W, C); ds.train.labels int64 (N,); the same for ds.val and ds.test
    ds.mean, ds.std   # float32 (C,), [0, 1] scale, computed on ds.train only

Names: "shapes" (generated, offline, the default), "cifar10", "cifar100" (100 fine classes; "cifar100-coarse" for
its 20 superclasses) and "fashion-mnist" (downloaded once into the data directory), and "folder:PATH" (an image folder PATH/train/<class>/*, optional val/ and test/).
The framework adapters live in `shared.data.torch_data` and `shared.data.keras_data`; they import torch or
TensorFlow, this module does not.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared import paths
from shared.data import shapes
from shared.data.input_spec import InputSpec, input_spec
from shared.data.splits import DatasetSplits, Split, channel_stats, stratified_split, stratified_subset

DATASET_NAMES = ("shapes", "cifar10", "cifar100", "cifar100-coarse", "fashion-mnist")  # plus "folder:PATH"
FOLDER_PREFIX = "folder:"
DEFAULT_VAL_FRACTION = 0.1
DEFAULT_TEST_FRACTION = 0.1   # shapes, and folders without a test/ directory

__all__ = ["DATASET_NAMES", "DatasetSplits", "InputSpec", "Preprocessing", "Split", "channel_stats",
           "dataset_choices", "input_spec", "load_dataset", "check_name"]


@dataclass(frozen=True)
class Preprocessing:
    """Preprocessing owned by a backbone (e.g. a pretrained network): resize to `size`, then (x - mean) / std.

    When given to a loader it replaces the dataset's own mean/std. `size=None` keeps the image size.
    """

    size: int | None = None               # output height = width in pixels
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)  # per channel, [0, 1] scale
    std: tuple[float, ...] = (0.5, 0.5, 0.5)


def dataset_choices() -> list[str]:
    """The names `load_dataset` accepts, for help texts and error messages."""
    return [*DATASET_NAMES, f"{FOLDER_PREFIX}PATH"]


def check_name(name: str) -> str:
    """`name` if `load_dataset` accepts it, else a ValueError that lists the valid choices (or, for
    `folder:PATH`, says that PATH is not a directory). The one check of a dataset name: the CLI uses it too."""
    if name in DATASET_NAMES:
        return name
    if name.startswith(FOLDER_PREFIX) and len(name) > len(FOLDER_PREFIX):
        path = Path(name[len(FOLDER_PREFIX):]).expanduser()
        if not path.is_dir():
            raise ValueError(f"folder dataset {path} does not exist or is not a directory (expected "
                             f"{path}/train/<class>/<images>).")
        return name
    raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(dataset_choices())}.")


def load_dataset(name: str = "shapes", *, size: int | None = None, image_size: int | None = None, seed: int = 0,
                 val_fraction: float = DEFAULT_VAL_FRACTION, test_fraction: float = DEFAULT_TEST_FRACTION,
                 data_dir: str | os.PathLike | None = None, progress: bool = True) -> DatasetSplits:
    """Load a dataset by name as train/val/test splits with train-only normalisation statistics.

    name:          "shapes", "cifar10", "cifar100", "cifar100-coarse", "fashion-mnist" or "folder:PATH".
    size:          shapes: the number of images generated in total (default 10,000), split
                   (1 - val - test) / val / test. Other datasets: an optional cap on the total, a seeded class-
                   balanced subset of every split in the same proportion.
    image_size:    height = width in pixels; default: shapes 32, the dataset's own size for cifar10/100 (32) and
                   fashion-mnist (28), the first training image's size (at most 128) for folders.
    seed:          decides the generated images, the validation (and carved test) split and any subset.
    val_fraction:  part of the training images held out for validation (stratified), unless the source has
                   its own validation split (a folder's val/).
    test_fraction: shapes, and folders without test/: part held out as the test split.
    data_dir:      where downloads and caches live (default: shared.paths.data_dir()).
    """
    check_name(name)
    if name == "shapes":
        return _load_shapes(size, image_size, seed, val_fraction, test_fraction)
    root = paths.data_dir(data_dir)
    if name.startswith(FOLDER_PREFIX):
        from shared.data import folder
        return folder.load_folder(name[len(FOLDER_PREFIX):], image_size=image_size, seed=seed, size=size,
                                  val_fraction=val_fraction, test_fraction=test_fraction, data_dir=root,
                                  progress=progress)
    from shared.data import downloads
    (train_images, train_labels), (test_images, test_labels), class_names, source = downloads.load_arrays(
        name, root, progress=progress)
    train, test = Split(train_images, train_labels), Split(test_images, test_labels)
    if size is not None:
        fraction = min(1.0, size / (len(train) + len(test)))
        train = train.subset(stratified_subset(train.labels, round(fraction * len(train)), seed))
        test = test.subset(stratified_subset(test.labels, round(fraction * len(test)), seed))
    if image_size is not None and image_size != train.images.shape[1]:
        train, test = (Split(resize_images(s.images, image_size), s.labels) for s in (train, test))
    keep, held_out = stratified_split(train.labels, (val_fraction,), seed)
    return DatasetSplits(name=name, class_names=class_names, train=train.subset(keep), val=train.subset(held_out),
                         test=test, source=source)


def _load_shapes(size, image_size, seed, val_fraction, test_fraction) -> DatasetSplits:
    size = shapes.DEFAULT_SIZE if size is None else size
    image_size = shapes.DEFAULT_IMAGE_SIZE if image_size is None else image_size
    min_size = 3 * len(shapes.CLASS_NAMES)
    if size < min_size:
        raise ValueError(f"shapes needs size >= {min_size} (a few images of each class per split), got {size}.")
    images, labels = shapes.generate(size, image_size=image_size, seed=seed)
    everything = Split(images, labels)
    train, val, test = stratified_split(labels, (val_fraction, test_fraction), seed)
    return DatasetSplits(name="shapes", class_names=list(shapes.CLASS_NAMES), train=everything.subset(train),
                         val=everything.subset(val), test=everything.subset(test),
                         source=f"generated (seed={seed}, size={size}, image_size={image_size})")


def resize_images(images: np.ndarray, image_size: int) -> np.ndarray:
    """uint8 (N, H, W, C) -> uint8 (N, image_size, image_size, C), bilinear with antialiasing (PIL)."""
    from PIL import Image

    out = np.empty((len(images), image_size, image_size, images.shape[-1]), dtype=np.uint8)
    for i, image in enumerate(images):
        pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        resized = np.asarray(pil.resize((image_size, image_size), Image.Resampling.BILINEAR))
        out[i] = resized.reshape(image_size, image_size, -1)
    return out
