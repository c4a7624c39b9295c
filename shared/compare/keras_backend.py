"""Keras side of a comparison row: tf.data pipelines, building, progress, predictions, latency."""
from __future__ import annotations

import numpy as np

from shared.timing import latency_ms_per_image

INFERENCE_PATH = "one compiled graph, a tf.function (what model.predict runs: Keras' usual path)"
EAGER_PATH = "eager, model(images, training=False) op by op"


def device() -> str:
    import tensorflow as tf

    return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"


def seed_everything(seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)  # python, numpy and the backend at once


def make_data(split, *, train: bool, spec, batch_size: int, seed: int):
    from shared.data.keras_data import make_dataset

    return make_dataset(split, batch_size=batch_size, train=train, spec=spec, seed=seed)


def with_progress(dataset, bar, epochs: int):
    """Keras rows show Keras' own progress bar (the trainer's verbose=1): the dataset is left as it is."""
    bar.close()
    return dataset


def trainer_progress(progress: bool) -> bool:
    return progress


def build(entry, num_classes: int, input_shape, seed: int):
    seed_everything(seed)
    return entry.builder(num_classes=num_classes, input_shape=tuple(input_shape))


def dropout_rates(model) -> list[float]:
    import keras

    def layers(layer):
        yield layer
        for inner in getattr(layer, "layers", []):
            yield from layers(inner)

    return [float(layer.rate) for layer in layers(model) if isinstance(layer, keras.layers.Dropout) and layer.rate > 0]


def predict(model, dataset) -> tuple[np.ndarray, np.ndarray]:
    outputs, labels = [], []
    for images, targets in dataset:
        outputs.append(np.asarray(model(images, training=False)))
        labels.append(np.asarray(targets))
    return np.concatenate(outputs), np.concatenate(labels).astype(np.int64)


def test_pixels(dataset, indices) -> np.ndarray:
    """The prepared images at `indices` of a test dataset (train=False: the split's order), (N, H, W, C):
    exactly what the model was given, for Grad-CAM."""
    wanted, found, start = {int(i) for i in indices}, {}, 0
    for images, _ in dataset:
        for offset in wanted.intersection(range(start, start + len(images))):
            found[offset] = np.asarray(images[offset - start], dtype=np.float32)
        start += len(images)
        if len(found) == len(wanted):
            break
    return np.stack([found[int(i)] for i in indices]) if len(indices) else np.zeros((0, 1, 1, 1), np.float32)


def latency_ms(model, input_shape, batch_size: int, repeats: int, eager: bool = False) -> float:
    """Per-image latency of the model compiled as one graph (what `model.predict` runs), or called eagerly."""
    import tensorflow as tf

    batch = tf.constant(np.random.default_rng(0).random((batch_size, *input_shape), dtype=np.float32))  # (B, H, W, C)
    forward = lambda images: model(images, training=False)  # noqa: E731
    if not eager:
        forward = tf.function(forward)  # traced during the warm-up calls
    return latency_ms_per_image(forward, batch, batch_size, repeats=repeats)
