"""Week 2 · data.py: the Dataset, its transform, train-only statistics and the DataLoaders."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from shared.grading.checks import close, describe, expect_close, expect_shape, expect_true, fail

SCRAMBLED = ("the (H, W, C) image was reshaped to (C, H, W), which scrambles the pixels (each 'channel' then holds "
             "pieces of all three). Move the channel axis instead: permute/transpose (2, 0, 1), or v2.ToImage().")
from shared.grading.target import exercise

data = exercise("week2", "data")

HEIGHT, WIDTH, CHANNELS = 6, 5, 3


def _images(n: int, low: int = 0, high: int = 256, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(low, high, size=(n, HEIGHT, WIDTH, CHANNELS), dtype=np.uint8)


def _split(n: int, low: int = 0, high: int = 256, seed: int = 0) -> SimpleNamespace:
    return SimpleNamespace(images=_images(n, low, high, seed), labels=np.arange(n, dtype=np.int64) % 4)


def _numpy_stats(images: np.ndarray):
    pixels = images.reshape(-1, images.shape[-1]) / 255.0
    return pixels.mean(axis=0), pixels.std(axis=0)


@pytest.mark.points(1)
def test_normalisation_stats():
    images = _images(40)
    images[..., 1] //= 4  # channels with different statistics catch stats taken over the wrong axis
    mean, std = data.normalisation_stats(images)
    expected_mean, expected_std = _numpy_stats(images)
    expect_shape("mean", mean, (CHANNELS,))
    expect_shape("std", std, (CHANNELS,))
    if np.max(np.asarray(mean)) > 1.5:
        fail(f"normalisation_stats: the mean is {np.asarray(mean).round(1)}, on the 0-255 scale; "
             f"return statistics on the [0, 1] scale (divide the pixels by 255).")
    expect_close("per-channel mean", mean, expected_mean, atol=1e-3,
                 hint="One value per channel: average over the N, H and W axes (axis=(0, 1, 2)).")
    expect_close("per-channel std", std, expected_std, atol=2e-3,
                 hint="One value per channel: the standard deviation over the N, H and W axes.")


@pytest.mark.points(1)
def test_make_transform():
    image = _images(1)[0]
    mean, std = np.array([0.5, 0.4, 0.3]), np.array([0.2, 0.25, 0.5])
    out = data.make_transform(mean, std)(image)
    expect_true(isinstance(out, torch.Tensor), f"the transform must return a torch.Tensor, got {describe(out)}")
    expect_shape("transformed image (C, H, W)", out, (CHANNELS, HEIGHT, WIDTH))
    expect_true(out.dtype == torch.float32, f"the transformed image must be float32, got {out.dtype}")
    expected = (image.transpose(2, 0, 1) / 255.0 - mean[:, None, None]) / std[:, None, None]
    reshaped = (image.reshape(CHANNELS, HEIGHT, WIDTH) / 255.0 - mean[:, None, None]) / std[:, None, None]
    if close(out, reshaped, atol=1e-4):
        fail(f"make_transform: {SCRAMBLED}")
    expect_close("normalised pixels", out, expected, atol=1e-4,
                 hint="Each channel c becomes (pixel / 255 - mean[c]) / std[c], in (C, H, W) layout.")


@pytest.mark.points(2)
def test_dataset_items():
    images = np.zeros((3, HEIGHT, WIDTH, CHANNELS), dtype=np.uint8)
    images[..., 1] = 255  # channel 1 is white, the others black: checks the (C, H, W) layout and the scale
    labels = np.array([2, 0, 1])
    dataset = data.ImageArrayDataset(images, labels)
    expect_true(len(dataset) == 3, f"len(dataset) should be the number of images, 3; got {len(dataset)}")
    image, label = dataset[2]
    expect_true(isinstance(image, torch.Tensor), f"dataset[i][0] must be a torch.Tensor, got {describe(image)}")
    expect_shape("dataset[i] image (C, H, W)", image, (CHANNELS, HEIGHT, WIDTH))
    expect_true(image.dtype == torch.float32, f"images must be float32, got {image.dtype}")
    if close(image, images[2].reshape(CHANNELS, HEIGHT, WIDTH) / 255.0):
        fail(f"dataset[i] (the default transform): {SCRAMBLED}")
    expect_close("default transform (no normalisation: pixels / 255)", image[1], torch.ones(HEIGHT, WIDTH),
                 hint="Without a transform, scale to [0, 1]; channel 1 of this image is 255 everywhere.")
    expect_true(isinstance(label, torch.Tensor) and label.dtype == torch.int64,
                f"labels must be int64 tensors (torch.long), the dtype nn.CrossEntropyLoss expects for class "
                f"indices; got {describe(label)}")
    expect_true(int(label) == 1, f"dataset[2] should carry labels[2] = 1, got {int(label)}")
    marker = torch.full((1,), 7.0)
    custom = data.ImageArrayDataset(images, labels, transform=lambda _: marker)
    expect_true(custom[0][0] is marker, "dataset[i] should return transform(image) when a transform is given")
    with pytest.raises(ValueError):
        data.ImageArrayDataset(images, labels[:2])  # 3 images, 2 labels: a sentence, not a later IndexError


def _dataset(train_low=0, train_high=100, val_low=150, val_high=256, n_train=21, n_val=10):
    train, val, test = _split(n_train, train_low, train_high, 1), _split(n_val, val_low, val_high, 2), \
        _split(n_val, val_low, val_high, 3)
    val.images[:] = val.images[0]  # identical validation images: their order cannot matter in the statistics test
    mean, std = _numpy_stats(train.images)
    return SimpleNamespace(train=train, val=val, test=test, mean=mean.astype(np.float32),
                           std=std.astype(np.float32), num_classes=4, image_shape=(HEIGHT, WIDTH, CHANNELS))


@pytest.mark.points(2)
def test_loaders_normalise_with_training_statistics():
    # Dark training images, bright validation images: statistics over all the data are far off.
    ds = _dataset()
    loaders = data.make_dataloaders(ds, batch_size=4, num_workers=0)
    train_images = torch.cat([images for images, _ in loaders.train])
    per_channel_mean = train_images.mean(dim=(0, 2, 3))
    per_channel_std = train_images.std(dim=(0, 2, 3))
    if per_channel_mean.max() < -0.5:
        fail(f"the training batches have per-channel mean {per_channel_mean.numpy().round(2)}, far below 0: the "
             f"normalisation statistics include the validation/test images. Compute them on ds.train only.")
    expect_close("per-channel mean of the normalised training images", per_channel_mean, torch.zeros(CHANNELS),
                 atol=0.15, hint="Normalise every split with normalisation_stats(ds.train.images).")
    expect_close("per-channel std of the normalised training images", per_channel_std, torch.ones(CHANNELS),
                 atol=0.15, hint="Normalise every split with normalisation_stats(ds.train.images).")
    val_first, _ = next(iter(loaders.val))
    mean, std = _numpy_stats(ds.train.images)
    pixels = ds.val.images[0].transpose(2, 0, 1) / 255.0
    count = ds.train.images[..., 0].size  # the unbiased std (ddof=1) is as correct: accept either
    candidates = [(pixels - mean[:, None, None]) / (s[:, None, None]) for s in (std, std * np.sqrt(count / (count - 1)))]
    if any(close(val_first[0], c, atol=1e-3) for c in candidates):
        return
    all_images = np.concatenate([ds.train.images, ds.val.images, ds.test.images])
    leaked_mean, leaked_std = _numpy_stats(all_images)
    if close(val_first[0], (pixels - leaked_mean[:, None, None]) / leaked_std[:, None, None], atol=1e-3):
        fail("the validation images are normalised with statistics of all the data (train + val + test): compute "
             "them on ds.train only, and use those for every split.")
    expect_close("first validation image", val_first[0], candidates[0], atol=1e-3,
                 hint="Validation images are normalised with the *training* statistics too.")


@pytest.mark.points(2)
def test_only_the_training_loader_shuffles():
    ds = _dataset(n_train=41, n_val=10)
    ds.train.labels = np.arange(41)  # distinct labels reveal the order of the examples
    ds.val.labels = np.arange(10)[::-1].copy()
    loaders = data.make_dataloaders(ds, batch_size=4, num_workers=0)
    val_labels = torch.cat([labels for _, labels in loaders.val])
    expect_true(val_labels.dtype == torch.int64, f"loader labels must be int64, got {val_labels.dtype}")
    if sorted(val_labels.tolist()) == sorted(ds.val.labels.tolist()) and val_labels.tolist() != ds.val.labels.tolist():
        fail("the validation loader shuffles: evaluation should see the examples in their stored order "
             "(shuffle=False), so that predictions line up with the labels and runs repeat.")
    expect_true(val_labels.tolist() == ds.val.labels.tolist(),
                f"the validation loader should yield all {len(ds.val.labels)} examples once, in order; got labels "
                f"{val_labels.tolist()} (drop_last belongs to the training loader only)")
    train_batches = [labels for _, labels in loaders.train]
    train_labels = torch.cat(train_batches).tolist()
    expect_true(min(len(b) for b in train_batches) > 1,
                "with 41 training examples and batch_size=4 the training loader ends with a batch of 1, which "
                "breaks BatchNorm in training mode; drop the last incomplete training batch (drop_last=True).")
    expect_true(len(set(train_labels)) == len(train_labels) and set(train_labels) <= set(range(41)),
                "the training loader should yield each training example at most once per epoch")
    expect_true(train_labels != sorted(train_labels),
                "the training loader yields the examples in their stored order: shuffle the training data "
                "(shuffle=True), or each epoch sees the same sequence of batches.")
