"""Keras side of a comparison row: tf.data pipelines, the default trainer, predictions, latency."""
from __future__ import annotations

import functools
import inspect

import numpy as np

from shared.timing import latency_ms_per_image


def device() -> str:
    import tensorflow as tf

    return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"


def seed_everything(seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)  # python, numpy and the backend at once


def make_data(split, *, train: bool, dataset, recipe, seed: int):
    from shared.data.keras_data import make_dataset

    options = {"seed": seed} if "seed" in inspect.signature(make_dataset).parameters else {}
    return make_dataset(split, batch_size=recipe.batch_size, train=train, mean=dataset.mean, std=dataset.std,
                        preprocessing=recipe.preprocessing, **options)


def train_with_fit_keras(fit_keras, model, train, val, *, epochs, learning_rate, seed, device, progress=True):
    """Week 2's `fit_keras`, which leaves the best validation epoch's weights in `model` (`device` is unused)."""
    return fit_keras(model, train, val, epochs=epochs, learning_rate=learning_rate, seed=seed,
                     verbose=1 if progress else 0)


def default_trainer(impl: str, recipe, progress: bool):
    if impl == "reference":
        from solutions.week2 import keras_cnn
    else:
        from shared.grading.target import import_exercise

        keras_cnn = import_exercise("week2", "keras_cnn")
    return functools.partial(train_with_fit_keras, keras_cnn.fit_keras, progress=progress)


def build(entry, num_classes: int, input_shape, seed: int):
    seed_everything(seed)
    return entry.builder(num_classes=num_classes, input_shape=tuple(input_shape))


def predict(model, dataset) -> tuple[np.ndarray, np.ndarray]:
    outputs, labels = [], []
    for images, targets in dataset:
        outputs.append(np.asarray(model(images, training=False)))
        labels.append(np.asarray(targets))
    return np.concatenate(outputs), np.concatenate(labels).astype(np.int64)


def latency_ms(model, input_shape, batch_size: int, repeats: int) -> float:
    """Per-image latency of the model compiled as one graph (what `model.predict` runs), not op-by-op eager."""
    import tensorflow as tf

    batch = tf.constant(np.random.default_rng(0).random((batch_size, *input_shape), dtype=np.float32))  # (B, H, W, C)
    forward = tf.function(lambda images: model(images, training=False))  # traced during the warm-up calls
    return latency_ms_per_image(forward, batch, batch_size, repeats=repeats)
