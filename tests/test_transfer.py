"""Week 4's transfer rows: registered in both frameworks with their recipe, trainable by `workbook compare`, and
servable by the inference API from the checkpoint compare writes."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from shared import history as history_format
from shared.registry import create_model, get_entry

TINY = 32  # px: every forward pass stays cheap


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_transfer_lite0_is_registered_with_its_recipe(framework):
    entry = get_entry("transfer_lite0", framework)
    assert callable(entry.info["trainer"]) and entry.info["offline"] is True
    preprocessing = entry.info["preprocessing"]
    assert preprocessing.size == 64 and tuple(preprocessing.mean) == (0.5,) * 3 and tuple(preprocessing.std) == (0.5,) * 3


def _batches(count=2, size=4, classes=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, 3, TINY, TINY, generator=generator), torch.arange(size) % classes) for _ in range(count)]


@pytest.mark.timeout(300)
def test_torch_trainer_runs_both_stages_and_keeps_batchnorm_statistics():
    model = create_model("transfer_lite0", num_classes=3, input_shape=(TINY, TINY, 3))
    stats = {name: b.clone() for name, b in model.named_buffers() if "running" in name}
    entry = get_entry("transfer_lite0", "torch")
    batches = _batches()
    history = entry.info["trainer"](model, batches, batches[:1], epochs=2, learning_rate=1e-3, seed=0, device="cpu",
                                    progress=False)
    history_format.validate(history)
    assert len(history["train_loss"]) == 2
    assert all(torch.equal(b, stats[n]) for n, b in model.named_buffers() if n in stats)


@pytest.mark.timeout(300)
def test_the_progress_bar_moves_through_the_cached_epochs_too():
    """Compare's bar counts the batches a trainer draws; the cached trainer draws them once (the frozen pass) and
    then moves the bar itself, one step per step of the top, so the bar does not stall at 1/epochs."""
    from shared.compare.torch_backend import BatchProgress

    class Bar:
        n = 0

        def update(self, count):
            self.n += count

        def set_postfix_str(self, *args, **kwargs):
            pass

    model = create_model("transfer_lite0", num_classes=3, input_shape=(TINY, TINY, 3))
    batches, bar = _batches(), Bar()
    get_entry("transfer_lite0", "torch").info["trainer"](
        model, BatchProgress(batches, bar, 3), batches[:1], epochs=3, learning_rate=1e-3, seed=0, device="cpu",
        progress=False)
    top_steps = 2   # 8 cached images in one batch of 8: one step in each of the 2 epochs after the probe
    assert bar.n == len(batches) + top_steps, f"the bar moved {bar.n} steps, expected {len(batches) + top_steps}"


@pytest.mark.timeout(300)
def test_compare_row_checkpoint_is_served_by_the_api(tmp_path):
    """A transfer row through compare's own row runner, then its checkpoint through the inference API."""
    from fastapi.testclient import TestClient
    from PIL import Image
    import io

    from shared.api import create_app
    from shared.compare.config import CompareConfig
    from shared.compare.measure import run_row
    from shared.compare.plan import RowSpec
    from shared.data import load_dataset

    dataset = load_dataset("shapes", size=60, image_size=32, seed=0)
    config = CompareConfig(size=60, epochs=1, latency_repeats=1, progress=False)
    spec = RowSpec("transfer_lite0", "torch", "reference", get_entry("transfer_lite0", "torch"))
    outcome = run_row(spec, dataset, config, tmp_path)
    assert outcome.row["status"] == "ok", outcome.row.get("reason")
    assert outcome.row["input"]["shape"] == [64, 64, 3]
    assert outcome.row["params_trainable"] < outcome.row["params_total"]  # the backbone stayed frozen (1 epoch)
    checkpoint = tmp_path / outcome.row["checkpoint"]["manifest"]
    client = TestClient(create_app(checkpoint.parent))
    buffer = io.BytesIO()
    Image.fromarray(dataset.test.images[0]).save(buffer, format="PNG")
    response = client.post("/predict", files={"file": ("x.png", buffer.getvalue(), "image/png")}, params={"top_k": 2})
    assert response.status_code == 200, response.text
    assert [p["label"] in dataset.class_names for p in response.json()["predictions"]] == [True, True]


@pytest.mark.timeout(300)
def test_keras_trainer_unfreezes_only_after_the_head_stage():
    import keras

    from solutions.week4 import keras_transfer

    model, _ = keras_transfer.build_keras_transfer(3, image_size=TINY)
    images = np.random.default_rng(0).normal(size=(8, TINY, TINY, 3)).astype("float32")
    labels = np.arange(8) % 3
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)
    stem = model.get_layer("conv_stem").get_weights()[0].copy()
    history = keras_transfer.fine_tune_keras(model, data, data, epochs=2, learning_rate=1e-3, progress=False)
    history_format.validate(history)
    assert len(history["train_loss"]) == 2
    assert np.allclose(stem, model.get_layer("conv_stem").get_weights()[0])  # below the top blocks: frozen
    assert not any(layer.trainable for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
