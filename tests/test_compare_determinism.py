"""Same seed, same numbers, whatever the display: progress bars never touch the data order or a random state, and
the two frameworks train on the same batches in the same order. Both checked at run time, through compare's own
row runner and the registered trainers."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from shared import registry
from shared.compare.config import CompareConfig
from shared.compare.measure import run_row, train_seed
from shared.compare.plan import RowSpec
from shared.compare.recipe import recipe_for
from shared.data import DatasetSplits, Split, input_spec
from shared.data.batching import batch_indices

EPOCHS, TRAIN = 2, 150


def _config(progress: bool, tmp_path) -> CompareConfig:
    return CompareConfig(size=300, image_size=16, epochs=EPOCHS, latency_repeats=1, progress=progress,
                         data_efficiency=(), out=tmp_path)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_progress_bars_change_no_number(framework, tmp_path):
    from shared.data import load_dataset

    dataset = load_dataset("shapes", size=300, image_size=16, seed=0)
    spec = RowSpec("cnn", framework, "reference", registry.get_entry("cnn", framework))
    rows = [run_row(spec, dataset, _config(progress, tmp_path / str(progress)), tmp_path / str(progress)).row
            for progress in (True, False)]
    assert all(row["status"] == "ok" for row in rows), [row.get("reason") for row in rows]
    with_bars, without = rows
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert with_bars["history"][key] == without["history"][key], key
    assert with_bars["test_accuracy"] == without["test_accuracy"]
    assert with_bars["per_class_accuracy"] == without["per_class_accuracy"]


# ---- which batches each framework trains on ---------------------------------------------------------------------

def _indexed_dataset(count: int = TRAIN) -> DatasetSplits:
    """Random 16x16 images whose first pixel spells their index: red = index % 256, green = index // 256."""
    rng = np.random.default_rng(0)

    def split(n, offset):
        images = rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)
        index = np.arange(n) + offset
        images[:, 0, 0, 0], images[:, 0, 0, 1] = index % 256, index // 256
        return Split(images, rng.integers(0, 10, n))

    return DatasetSplits("indexed", [str(c) for c in range(10)], split(count, 0), split(40, 0), split(40, 0))


def _decode(red, green, spec) -> list[int]:
    """Indices back from the normalised first pixel of each image (the inverse of (x / 255 - mean) / std)."""
    pixel = lambda values, c: np.rint((np.asarray(values) * spec.std[c] + spec.mean[c]) * 255).astype(int)  # noqa: E731
    return (pixel(red, 0) + 256 * pixel(green, 1)).tolist()


def _recording_entry(framework: str, spec, seen: list):
    """The registered CNN of `framework`, wrapped so that every training batch's indices are appended to `seen`."""
    entry = registry.get_entry("cnn", framework)
    if framework == "torch":
        def builder(**options):
            model = entry.builder(**options)

            def record(module, inputs):
                if module.training:
                    seen.append(_decode(inputs[0][:, 0, 0, 0], inputs[0][:, 1, 0, 0], spec))
            model.register_forward_pre_hook(record)
            return model
    else:
        import keras
        import tensorflow as tf

        class Record(keras.layers.Layer):
            def call(self, images, training=None):
                if not training:
                    return images

                def log(batch):
                    seen.append(_decode(batch[:, 0, 0, 0].numpy(), batch[:, 0, 0, 1].numpy(), spec))
                    return batch
                out = tf.py_function(log, [images], Tout=images.dtype)
                out.set_shape(images.shape)
                return out

        def builder(**options):
            inner = entry.builder(**options)
            inputs = keras.Input(shape=options["input_shape"])
            return keras.Model(inputs, inner(Record()(inputs)))
    return dataclasses.replace(entry, builder=builder)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_both_frameworks_train_on_the_same_batches_in_the_same_order(tmp_path):
    dataset = _indexed_dataset()
    config = _config(False, tmp_path)
    seen = {}
    for framework in ("torch", "keras"):
        recipe = recipe_for(registry.get_entry("cnn", framework).info, config)
        spec = input_spec(dataset.image_shape, dataset.mean, dataset.std, recipe.preprocessing)
        seen[framework] = []
        row = RowSpec("cnn", framework, "reference", _recording_entry(framework, spec, seen[framework]))
        train_seed(row, dataset, config, recipe, spec, seed=3)
    expected = [batch.tolist() for epoch in range(EPOCHS)
                for batch in batch_indices(TRAIN, recipe.batch_size, shuffle=True, seed=3, epoch=epoch)]
    assert seen["torch"] == expected, "PyTorch's trainer did not see the shared seeded order"
    assert seen["keras"] == expected, "Keras' trainer did not see the shared seeded order"
