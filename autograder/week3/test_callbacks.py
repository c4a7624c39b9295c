"""Week 3 · callbacks.py: early stopping that keeps the best weights, and a checkpoint of the best model."""
from __future__ import annotations

import os
from contextlib import nullcontext

import pytest
import torch
from torch import nn

from shared.grading.checks import expect_close, expect_true, fail
from shared.grading.target import exercise

callbacks = exercise("week3", "callbacks")


class State:
    """What the loop hands to callbacks: the model, and the stop flag."""

    def __init__(self, model):
        self.model, self.optimizer, self.schedule, self.history, self.stop_training = model, None, None, {}, False


def _replay(callback, values, monitor="val_loss"):
    """Run the callback over scripted epochs; the model's weight equals the epoch number during each epoch."""
    model = nn.Linear(1, 1, bias=False)
    state = State(model)
    callback.on_train_begin(state)
    stopped_after = None
    for epoch, value in enumerate(values):
        with torch.no_grad():
            model.weight.fill_(float(epoch))
        callback.on_epoch_end(epoch, {monitor: value, "val_loss": value, "val_acc": value}, state)
        if state.stop_training:
            stopped_after = epoch
            break
    callback.on_train_end(state)
    return model.weight.item(), stopped_after


@pytest.mark.points(2)
def test_early_stopping_restores_best_weights():
    stopper = callbacks.EarlyStopping(monitor="val_loss", mode="min", patience=2, restore_best_weights=True)
    weight, stopped = _replay(stopper, [1.0, 0.5, 0.6, 0.7, 0.8, 0.9])
    expect_true(stopped == 3, f"val_loss [1.0, 0.5, 0.6, 0.7, ...] with patience 2 should stop after epoch 3 "
                              f"(two epochs without improvement after epoch 1), stopped after {stopped}")
    if weight == 3.0:
        fail("early stopping kept the last epoch's weights (epoch 3) instead of the best (epoch 1): save a copy "
             "(copy.deepcopy of state_dict) when the metric improves and load it back")
    expect_close("the weight after training (the model from the best epoch, 1)", weight, 1.0, atol=0,
                 hint="a state_dict holds references: without a deep copy it changes with the model")


@pytest.mark.points(1)
def test_early_stopping_min_delta_and_mode():
    stopper = callbacks.EarlyStopping(monitor="val_acc", mode="max", patience=2, min_delta=0.05)
    weight, stopped = _replay(stopper, [0.5, 0.52, 0.54, 0.9, 0.91], monitor="val_acc")
    expect_true(stopped == 2, f"val_acc [0.5, 0.52, 0.54] never improves by more than min_delta=0.05, so patience 2 "
                              f"should stop after epoch 2, stopped after {stopped}")
    expect_close("weight after stopping (best epoch 0)", weight, 0.0, atol=0)
    patient = callbacks.EarlyStopping(monitor="val_acc", mode="max", patience=2)
    _, stopped = _replay(patient, [0.5, 0.6, 0.7, 0.8], monitor="val_acc")
    expect_true(stopped is None, f"with mode='max', a rising val_acc is improving: it should not stop (stopped after {stopped})")


@pytest.mark.points(2)
def test_model_checkpoint_keeps_the_best(tmp_path):
    path = tmp_path / "best.pt"
    checkpoint = callbacks.ModelCheckpoint(path, monitor="val_acc", mode="max")
    _replay(checkpoint, [0.5, 0.8, 0.7, 0.6], monitor="val_acc")
    if not path.exists():
        fail(f"ModelCheckpoint should have written the best model to {path}")
    state = torch.load(path, weights_only=True)
    if not isinstance(state, dict) or "weight" not in state:
        fail(f"expected the model's state_dict in {path}, got {type(state).__name__}")
    got = state["weight"].item()
    expect_true(got != 3.0, "the checkpoint holds the last epoch, not the best: save only when the monitored metric improves")
    expect_close("weight in the checkpoint (epoch 1 had the best val_acc 0.8)", got, 1.0, atol=0)


def _dies_midway(obj, f, *args, **kwargs):
    """A torch.save that writes a few bytes and dies, like a kill or a full disk during the save."""
    with open(f, "wb") if isinstance(f, (str, os.PathLike)) else nullcontext(f) as handle:
        handle.write(b"partial")
    raise OSError("No space left on device (simulated by the autograder)")


@pytest.mark.points(1)
def test_model_checkpoint_saves_atomically(tmp_path, monkeypatch):
    path = tmp_path / "best.pt"
    checkpoint = callbacks.ModelCheckpoint(path, monitor="val_acc", mode="max")
    _replay(checkpoint, [0.5], monitor="val_acc")
    if not path.exists():
        fail(f"ModelCheckpoint should have written the best model to {path}")
    best = path.read_bytes()
    monkeypatch.setattr(torch, "save", _dies_midway)
    try:
        _replay(callbacks.ModelCheckpoint(path, monitor="val_acc", mode="max"), [0.9], monitor="val_acc")
    except OSError:
        pass
    if path.read_bytes() != best:
        fail("a save that died midway destroyed the previous best model: ModelCheckpoint writes straight to its "
             "path. Write a temporary file next to it and os.replace it over the path once complete "
             "(shared.atomic.atomic_write does both)")
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name != "best.pt")
    expect_true(not leftovers, f"the failed save left temporary files behind: {leftovers}; remove them on error")
