"""TensorBoard scalars (shared/tensorboard_logs.py): written per epoch, read back with tensorboard's reader."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from shared.tensorboard_logs import TorchEpochWriter, keras_callback, read_scalars, write_history

HISTORY = {"train_loss": [2.0, 1.5, 1.2], "train_acc": [0.2, 0.4, 0.5], "val_loss": [1.9, 1.6, 1.4],
           "val_acc": [0.25, 0.35, 0.45], "epoch_time_s": [1.0, 1.0, 1.0], "lr": [1e-3, 1e-3, 1e-4], "best_epoch": 2}
LAYOUT = {"train": {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"},
          "validation": {"epoch_loss", "epoch_accuracy"}}


def _layout(scalars: dict) -> dict:
    return {run: set(tags) for run, tags in scalars.items()}


def test_history_is_written_one_point_per_epoch(tmp_path):
    scalars = read_scalars(write_history(tmp_path / "cnn-torch", HISTORY))
    assert _layout(scalars) == LAYOUT
    assert scalars["train"]["epoch_loss"] == [(0, 2.0), (1, 1.5), (2, pytest.approx(1.2))]
    assert [v for _, v in scalars["validation"]["epoch_accuracy"]] == pytest.approx(HISTORY["val_acc"])
    assert [s for s, _ in scalars["train"]["epoch_learning_rate"]] == [0, 1, 2]


def test_a_ragged_history_is_refused(tmp_path):
    with pytest.raises(ValueError, match="one entry per epoch"):
        write_history(tmp_path, {**HISTORY, "val_acc": [0.3]})
    with pytest.raises(ValueError, match="one entry per epoch"):
        write_history(tmp_path, {"best_epoch": None})


def test_keras_callback_writes_the_same_charts(tmp_path):
    """keras.callbacks.TensorBoard during fit: the same runs and tags as the history writer, one point per epoch."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = np.random.default_rng(0).normal(size=(32, 4)).astype("float32"), np.arange(32) % 3
    model.fit(x, y, validation_data=(x, y), epochs=2, batch_size=16, verbose=0,
              callbacks=[keras_callback(tmp_path / "cnn-keras")])
    scalars = read_scalars(tmp_path / "cnn-keras")
    # Keras adds validation charts against optimizer steps (evaluation_*_vs_iterations); the epoch charts are shared
    assert all(LAYOUT[run] <= set(scalars[run]) for run in LAYOUT), _layout(scalars)
    assert all(len(scalars[run][tag]) == 2 for run in LAYOUT for tag in LAYOUT[run])
    assert scalars["train"]["epoch_learning_rate"][0] == (0, pytest.approx(1e-2))


def test_torch_writer_is_a_week3_loop_callback(tmp_path):
    from solutions.week3.loop import fit

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    images, labels = torch.randn(24, 3, 2, 2), torch.arange(24) % 3
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels), batch_size=8)
    history = fit(model, loader, loader, torch.optim.SGD(model.parameters(), lr=0.1), epochs=3,
                  callbacks=[TorchEpochWriter(tmp_path / "mlp-torch")])
    scalars = read_scalars(tmp_path / "mlp-torch")
    assert _layout(scalars) == LAYOUT
    assert [v for _, v in scalars["validation"]["epoch_loss"]] == pytest.approx(history["val_loss"])
