"""Week 3 · augmentation.py: the torchvision v2 pipeline, and loaders that augment the training set only."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from shared.grading.checks import expect_close, expect_shape, expect_true, fail
from shared.grading.target import exercise

augmentation = exercise("week3", "augmentation")


def _image(size=16):
    rng = np.random.default_rng(0)
    return torch.from_numpy(rng.integers(0, 256, (3, size, size), dtype=np.uint8))


@pytest.mark.points(1)
def test_train_transform_keeps_shape_and_varies():
    torch.manual_seed(0)
    transform = augmentation.make_train_transform(16)
    image = _image()
    outputs = [transform(image) for _ in range(6)]
    expect_shape("augmented image", outputs[0], (3, 16, 16))
    expect_true(outputs[0].dtype == torch.uint8, f"the transform maps uint8 to uint8, got {outputs[0].dtype}")
    expect_true(len({o.numpy().tobytes() for o in outputs}) > 1, "six augmentations of one image were all identical")


@pytest.mark.points(1)
def test_flip_without_crop_or_jitter():
    torch.manual_seed(0)
    transform = augmentation.make_train_transform(16, padding=0, jitter=0.0)
    image = _image()
    outputs = [transform(image) for _ in range(20)]
    flipped = sum(torch.equal(o, image.flip(-1)) for o in outputs)
    same = sum(torch.equal(o, image) for o in outputs)
    expect_true(flipped + same == 20 and flipped > 0 and same > 0,
                f"with padding=0 and jitter=0, each output should be the image or its horizontal mirror (p=0.5): got "
                f"{same} unchanged, {flipped} mirrored, {20 - same - flipped} other")


@pytest.mark.points(1)
def test_crop_pads_then_moves():
    torch.manual_seed(0)
    transform = augmentation.make_train_transform(16, padding=4, jitter=0.0)
    image = _image()
    outputs = [transform(image) for _ in range(12)]
    expect_shape("augmented image with padding=4", outputs[0], (3, 16, 16))
    unmoved = sum(torch.equal(o, image) or torch.equal(o, image.flip(-1)) for o in outputs)
    if unmoved == len(outputs):
        fail("with padding=4 every crop was the whole image (or its mirror): a RandomCrop of the image's own size "
             "without padding never moves. Pad first: v2.RandomCrop(image_size, padding=padding, ...).")


def _dataset(n=12, size=8):
    rng = np.random.default_rng(1)
    split = lambda count: SimpleNamespace(images=rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8),  # noqa: E731
                                          labels=rng.integers(0, 3, count).astype(np.int64))
    return SimpleNamespace(train=split(n), val=split(n), test=split(n), num_classes=3, image_shape=(size, size, 3),
                           mean=np.array([0.5, 0.4, 0.3], np.float32), std=np.array([0.2, 0.25, 0.3], np.float32))


def _expected(split, ds):
    images = torch.from_numpy(split.images).permute(0, 3, 1, 2).float() / 255
    return (images - torch.tensor(ds.mean)[:, None, None]) / torch.tensor(ds.std)[:, None, None]


@pytest.mark.points(3)
def test_loaders_augment_training_only():
    ds = _dataset()
    invert = lambda image: 255 - image  # noqa: E731  an augmentation nobody can miss
    train, val, test = augmentation.make_loaders(ds, batch_size=5, transform=invert)
    for name, loader, split in (("validation", val, ds.val), ("test", test, ds.test)):
        images = torch.cat([batch for batch, _ in loader])
        labels = torch.cat([label for _, label in loader])
        expect_shape(f"all {name} images", images, (12, 3, 8, 8))
        if torch.allclose(images, _expected(SimpleNamespace(images=255 - split.images), ds), atol=1e-5):
            fail(f"augmentation leaked into the {name} loader: the transform must be applied to the training set only")
        expect_close(f"{name} images (normalised with the training mean/std, in order)", images, _expected(split, ds),
                     atol=1e-5)
        expect_close(f"{name} labels, in order", labels, torch.as_tensor(split.labels), atol=0)
    images = torch.cat([batch for batch, _ in train])
    expected = _expected(SimpleNamespace(images=255 - ds.train.images), ds)
    matched = sum(any(torch.allclose(image, e, atol=1e-5) for e in expected) for image in images)
    expect_true(matched == 12, f"every training image should come through the transform ({matched} of 12 did)")
