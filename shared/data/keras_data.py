"""Keras side of the data layer: a tf.data pipeline with the same preprocessing as `shared.data.torch_data`.

uint8 -> optional `augment` (training only) -> float in [0, 1] -> optional resize -> (x - mean) / std.
Batches come out as float32 (B, H, W, C) and int64 (B,). A training dataset visits the examples in the same
seeded order, epoch by epoch, as the PyTorch loader made with the same seed and batch size.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from shared.data import Preprocessing
from shared.data.splits import Split
from shared.data.batching import batch_indices
from shared.data.input_spec import InputSpec, check_feeds, input_spec


def make_dataset(split: Split, batch_size: int = 64, train: bool = False, *, mean=None, std=None,
                 preprocessing: Preprocessing | None = None, augment: Callable | None = None, seed: int = 0,
                 drop_last: bool = False, spec: InputSpec | None = None) -> tf.data.Dataset:
    """A tf.data.Dataset of (float32 (B, H, W, C), int64 (B,)) batches from a `Split`, ready for `model.fit`.

    augment: optional callable applied to each training batch as float32 (B, H, W, C) in [0, 255] (Keras
             preprocessing layers expect that range), e.g. `keras.Sequential([layers.RandomFlip("horizontal")])`.
    Each iteration of a training dataset (each Keras epoch) is the next epoch of the shared seeded order.
    `spec` (the model's InputSpec) overrides mean/std/preprocessing, as in `torch_data.make_loader`.
    """
    spec = spec or input_spec(split.images.shape[1:], mean, std, preprocessing)
    check_feeds(split.images.shape, spec)
    mean, std = np.asarray(spec.mean, np.float32), np.asarray(spec.std, np.float32)
    channels, size = spec.channels, (spec.height, spec.width)
    images = tf.constant(np.ascontiguousarray(split.images))           # uint8 (N, H, W, C)
    labels = tf.constant(np.asarray(split.labels, dtype=np.int64))
    count = len(split.labels)
    if train:
        epochs = {"next": 0}

        def epoch_batches():
            epoch, epochs["next"] = epochs["next"], epochs["next"] + 1
            yield from batch_indices(count, batch_size, shuffle=True, seed=seed, epoch=epoch, drop_last=drop_last)

        indices = tf.data.Dataset.from_generator(epoch_batches,
                                                 output_signature=tf.TensorSpec(shape=(None,), dtype=tf.int64))
    else:
        indices = tf.data.Dataset.range(count).batch(batch_size)
    mean_t, std_t = tf.constant(mean), tf.constant(std)

    def load(index):
        batch = tf.cast(tf.gather(images, index), tf.float32)         # (B, H, W, C) in [0, 255]
        if train and augment is not None:
            batch = tf.cast(augment(batch), tf.float32)
        batch = batch / 255.0
        if channels != split.images.shape[-1]:
            batch = tf.repeat(batch, channels, axis=-1)                  # gray -> RGB for the backbone
        if tuple(split.images.shape[1:3]) != size:
            batch = tf.image.resize(batch, size, method="bilinear", antialias=True)
        return (batch - mean_t) / std_t, tf.gather(labels, index)

    if not train:
        return indices.map(load, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    # Training: pulled batch by batch, with no prefetching. Keras creates a spare iterator at the end of every
    # epoch and drops it; a prefetching pipeline could start the next epoch's generator in it and skip an epoch
    # of the shared order. The work per batch (a gather and a normalisation) is small next to a training step.
    batches = count // batch_size if drop_last else -(-count // batch_size)
    return indices.map(load).apply(tf.data.experimental.assert_cardinality(batches))
