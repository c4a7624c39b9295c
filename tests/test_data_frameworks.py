"""The PyTorch loader and the Keras tf.data pipeline see the same numbers, in the same order."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from shared.data import Preprocessing, load_dataset
from shared.data.torch_data import ArrayDataset, make_loader

import tensorflow as tf

from shared.data.keras_data import make_dataset


@pytest.fixture(scope="module")
def ds():
    return load_dataset("shapes", size=300, seed=0)


def nhwc(batch: torch.Tensor) -> np.ndarray:
    return batch.numpy().transpose(0, 2, 3, 1)


def test_torch_loader_shapes_and_values(ds):
    loader = make_loader(ds.val, batch_size=8, train=False, mean=ds.mean, std=ds.std)
    images, labels = next(iter(loader))
    assert images.shape == (8, 3, 32, 32) and images.dtype == torch.float32 and labels.dtype == torch.int64
    expected = (ds.val.images[:8] / 255.0 - ds.mean) / ds.std
    np.testing.assert_allclose(nhwc(images), expected, atol=1e-5)
    np.testing.assert_array_equal(labels.numpy(), ds.val.labels[:8])
    assert len(loader) == 4 and sum(len(y) for _, y in loader) == len(ds.val)
    image, label = ArrayDataset(ds.val, mean=ds.mean, std=ds.std)[3]
    assert image.shape == (3, 32, 32) and int(label) == ds.val.labels[3]


@pytest.mark.parametrize("preprocessing", [None, Preprocessing(size=48), Preprocessing(size=20, mean=(0.4,) * 3,
                                                                                           std=(0.2,) * 3)])
def test_same_validation_batches_in_both_frameworks(ds, preprocessing):
    torch_batches = list(make_loader(ds.val, batch_size=16, mean=ds.mean, std=ds.std, preprocessing=preprocessing))
    keras_batches = list(make_dataset(ds.val, batch_size=16, mean=ds.mean, std=ds.std, preprocessing=preprocessing))
    assert len(torch_batches) == len(keras_batches) == 2
    for (tx, ty), (kx, ky) in zip(torch_batches, keras_batches):
        assert kx.dtype == tf.float32 and kx.shape[1:] == nhwc(tx).shape[1:]
        np.testing.assert_allclose(nhwc(tx), kx.numpy(), atol=1e-4)
        np.testing.assert_array_equal(ty.numpy(), ky.numpy())
    if preprocessing is not None:
        assert tuple(torch_batches[0][0].shape[-2:]) == (preprocessing.size,) * 2


def test_training_order_is_seeded_per_epoch_and_shared(ds):
    loader = make_loader(ds.train, batch_size=32, train=True, mean=ds.mean, std=ds.std, seed=5)
    dataset = make_dataset(ds.train, batch_size=32, train=True, mean=ds.mean, std=ds.std, seed=5)
    torch_epochs = [np.concatenate([y.numpy() for _, y in loader]) for _ in range(2)]
    keras_epochs = [np.concatenate([y.numpy() for _, y in dataset]) for _ in range(2)]
    for t_epoch, k_epoch in zip(torch_epochs, keras_epochs):
        np.testing.assert_array_equal(t_epoch, k_epoch)
        assert sorted(t_epoch.tolist()) == sorted(ds.train.labels.tolist())
    assert not np.array_equal(torch_epochs[0], torch_epochs[1])             # a new order each epoch
    fresh = make_loader(ds.train, batch_size=32, train=True, mean=ds.mean, std=ds.std, seed=5)
    np.testing.assert_array_equal(np.concatenate([y.numpy() for _, y in fresh]), torch_epochs[0])
    other = make_loader(ds.train, batch_size=32, train=True, mean=ds.mean, std=ds.std, seed=6)
    assert not np.array_equal(np.concatenate([y.numpy() for _, y in other]), torch_epochs[0])


def test_augment_runs_on_training_batches_only(ds):
    from torchvision.transforms import v2

    flip = v2.RandomHorizontalFlip(p=1.0)
    train = next(iter(make_loader(ds.train, 4, train=True, augment=flip)))[0]
    plain = next(iter(make_loader(ds.train, 4, train=True)))[0]
    np.testing.assert_allclose(train.numpy(), plain.flip(-1).numpy(), atol=1e-6)
    val = next(iter(make_loader(ds.val, 4, train=False, augment=flip)))[0]
    np.testing.assert_allclose(val.numpy(), next(iter(make_loader(ds.val, 4)))[0].numpy())

    keras_flip = lambda batch: tf.reverse(batch, axis=[2])  # noqa: E731  (any callable on (B, H, W, C))
    k_train = next(iter(make_dataset(ds.train, 4, train=True, augment=keras_flip)))[0].numpy()
    np.testing.assert_allclose(k_train, nhwc(train), atol=1e-5)
    k_val = next(iter(make_dataset(ds.val, 4, train=False, augment=keras_flip)))[0].numpy()
    np.testing.assert_allclose(k_val, nhwc(val), atol=1e-5)


def test_bad_normalisation_is_a_clear_error(ds):
    with pytest.raises(ValueError, match="one value per channel"):
        make_loader(ds.val, 4, mean=(0.5,), std=(0.5,))
    with pytest.raises(ValueError, match="positive"):
        make_dataset(ds.val, 4, mean=ds.mean, std=(0.2, 0.0, 0.2))


def test_keras_fit_consumes_exactly_one_epoch_of_the_order_per_epoch(ds):
    import keras

    dataset = make_dataset(ds.train, batch_size=64, train=True, mean=ds.mean, std=ds.std, seed=2)
    model = keras.Sequential([keras.Input(ds.image_shape), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(dataset, epochs=2, verbose=0, shuffle=False)  # the order comes from the dataset
    after_fit = np.concatenate([y.numpy() for _, y in dataset])
    loader = make_loader(ds.train, batch_size=64, train=True, mean=ds.mean, std=ds.std, seed=2)
    third_epoch = [np.concatenate([y.numpy() for _, y in loader]) for _ in range(3)][-1]
    np.testing.assert_array_equal(after_fit, third_epoch)


def test_grayscale_images_with_an_rgb_backbone():
    from shared.data.splits import Split

    gray = Split(np.random.default_rng(0).integers(0, 256, (6, 28, 28, 1), dtype=np.uint8), np.arange(6) % 2)
    backbone = Preprocessing(size=32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    torch_batch = next(iter(make_loader(gray, 6, preprocessing=backbone)))[0]
    keras_batch = next(iter(make_dataset(gray, 6, preprocessing=backbone)))[0].numpy()
    assert torch_batch.shape == (6, 3, 32, 32) and keras_batch.shape == (6, 32, 32, 3)
    np.testing.assert_allclose(nhwc(torch_batch), keras_batch, atol=1e-4)
    np.testing.assert_array_equal(torch_batch[:, 0].numpy(), torch_batch[:, 2].numpy())
