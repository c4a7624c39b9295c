"""Week 2 · training.py: one epoch of steps, evaluation without side effects, and fit's history and best weights.

The models here are tiny and built by the tests, so the loop is graded on its own, whatever your CNN does.
"""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from shared.grading.checks import expect_close, expect_true, fail
from shared.grading.target import exercise

training = exercise("week2", "training")

HISTORY_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "epoch_time_s")


class Probe(nn.Module):
    """A linear model that records, at each forward pass, whether it was in training mode and tracking gradients."""

    def __init__(self, in_features: int = 4, classes: int = 3):
        super().__init__()
        self.linear = nn.Linear(in_features, classes)
        self.calls: list[tuple[bool, bool]] = []

    def forward(self, x):
        self.calls.append((self.training, torch.is_grad_enabled()))
        return self.linear(x)


def _batches(sizes, in_features=4, classes=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [(torch.randn(n, in_features, generator=generator), torch.randint(0, classes, (n,), generator=generator))
            for n in sizes]


def _reference_epoch(model, batches, learning_rate, zero_grad=True):
    """Plain SGD steps: the weights after the epoch and the per-batch (loss, correct, size)."""
    model = copy.deepcopy(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)
    stats = []
    for images, labels in batches:
        if zero_grad:
            optimizer.zero_grad()
        logits = model(images)
        loss = nn.functional.cross_entropy(logits, labels)
        loss.backward()
        optimizer.step()
        stats.append((loss.item(), (logits.argmax(1) == labels).sum().item(), len(labels)))
    return model, stats


@pytest.mark.points(2)
def test_train_one_epoch_takes_one_clean_step_per_batch():
    torch.manual_seed(0)
    model, batches = Probe(), _batches([5, 3, 4])
    expected_model, stats = _reference_epoch(model, batches, learning_rate=0.5)
    accumulated_model, _ = _reference_epoch(model, batches, learning_rate=0.5, zero_grad=False)
    model.eval()  # train_one_epoch must switch it to training mode itself
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    loss, accuracy = training.train_one_epoch(model, batches, optimizer, nn.CrossEntropyLoss(), "cpu")
    expect_true(len(model.calls) == len(batches), f"the model was called {len(model.calls)} times for "
                                                  f"{len(batches)} batches; expected one forward pass per batch")
    expect_true(all(mode for mode, _ in model.calls),
                "train_one_epoch ran a model that was in eval mode without switching it back: call model.train() "
                "at its start (dropout and BatchNorm behave differently in eval mode).")
    got = model.linear.weight.detach()
    if torch.allclose(got, accumulated_model.linear.weight, atol=1e-5):
        fail("the weights after the epoch match SGD steps whose gradients pile up batch after batch: call "
             "optimizer.zero_grad() before each loss.backward(), or each step uses the sum of all gradients so far.")
    expect_close("weights after one epoch (3 batches, SGD lr=0.5)", got, expected_model.linear.weight, atol=1e-4,
                 hint="One step per batch: zero_grad, forward, loss, backward, step.")
    sizes = torch.tensor([n for _, _, n in stats], dtype=torch.float64)
    losses = torch.tensor([l for l, _, _ in stats], dtype=torch.float64)
    weighted, plain = float((losses * sizes).sum() / sizes.sum()), float(losses.mean())
    expect_true(min(abs(loss - weighted), abs(loss - plain)) < 1e-4,
                f"train_one_epoch returned loss {loss:.5f}; the mean of the batch losses seen during the epoch is "
                f"{weighted:.5f} (weighted by batch size). Was it the last batch's loss only ({stats[-1][0]:.5f})?")
    expected_accuracy = sum(c for _, c, _ in stats) / sum(n for _, _, n in stats)
    expect_close("train accuracy over the epoch", accuracy, expected_accuracy, atol=1e-6,
                 hint="Count correct predictions over every batch and divide by the number of examples.")


class _Identity(nn.Module):
    """logits = the input: the test decides every prediction."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.calls: list[tuple[bool, bool]] = []

    def forward(self, x):
        self.calls.append((self.training, torch.is_grad_enabled()))
        return x * self.scale


def _scored_batches():
    """Batches of 4, 4 and 2 examples: the first 8 predicted right, the last 2 wrong (accuracy 0.8)."""
    logits = torch.tensor([[2.0, 0.0, -1.0]]).repeat(10, 1)
    labels = torch.tensor([0] * 8 + [1] * 2)
    return [(logits[:4], labels[:4]), (logits[4:8], labels[4:8]), (logits[8:], labels[8:])]


@pytest.mark.points(2)
def test_evaluate_is_side_effect_free():
    model = _Identity().train()
    training.evaluate(model, _scored_batches(), nn.CrossEntropyLoss(), "cpu")
    expect_true(len(model.calls) > 0, "evaluate never called the model")
    training_flags = [mode for mode, _ in model.calls]
    grad_flags = [grad for _, grad in model.calls]
    expect_true(not any(training_flags), "evaluate ran the model in training mode: call model.eval() first, so "
                                         "that dropout is off and BatchNorm uses its running statistics.")
    expect_true(not any(grad_flags), "evaluate ran the model with gradient tracking on: wrap the loop in "
                                     "`with torch.no_grad():` (it saves memory and time).")
    expect_true(model.training, "after evaluate the model is still in eval mode: put it back in the mode it was in "
                                "(remember model.training first, then model.train(was_training)), or the next "
                                "training epoch runs without dropout.")
    expect_true(model.scale.grad is None and model.scale.item() == 1.0, "evaluate changed the model's parameters "
                                                                      "or gradients; it should only measure.")
    model.eval()
    training.evaluate(model, _scored_batches(), nn.CrossEntropyLoss(), "cpu")
    expect_true(not model.training, "evaluate switched a model that was in eval mode to training mode: restore "
                                    "the mode it had (model.train(was_training)), not always train mode.")


@pytest.mark.points(2)
def test_evaluate_averages_over_the_whole_loader():
    batches = _scored_batches()
    loss, accuracy = training.evaluate(_Identity(), batches, nn.CrossEntropyLoss(), "cpu")
    if abs(accuracy - 0.0) < 1e-6:
        fail("evaluate returned accuracy 0.0 for a loader whose first 8 of 10 examples are right: that is the last "
             "batch's accuracy. Count correct predictions over every batch, then divide by the number of examples.")
    if abs(accuracy - 2 / 3) < 1e-3:
        fail("evaluate returned accuracy 0.667, the mean of per-batch accuracies (1, 1, 0); the batches have 4, 4 "
             "and 2 examples, so the accuracy over the loader is 8/10 = 0.8. Weight each batch by its size.")
    expect_close("accuracy over batches of 4, 4 and 2 examples (8 of 10 right)", accuracy, 0.8, atol=1e-6)
    logits = torch.cat([x for x, _ in batches])
    labels = torch.cat([y for _, y in batches])
    expect_close("mean loss over the loader, weighted by batch size", loss,
                 nn.functional.cross_entropy(logits, labels).item(), atol=1e-5,
                 hint="Multiply each batch's mean loss by its size, sum, and divide by the number of examples.")


class ScriptedValidation:
    """A 'loader' that decides the validation accuracy of each epoch and remembers the weights it saw.

    Each pass labels the examples so that the model's own predictions are right for exactly `plan[epoch]` of them.
    """

    def __init__(self, model: nn.Module, plan, n: int = 10, in_features: int = 4):
        self.model, self.plan, self.epoch = model, plan, 0
        self.images = torch.randn(n, in_features, generator=torch.Generator().manual_seed(1))
        self.snapshots: list[dict] = []

    def __iter__(self):
        self.snapshots.append(copy.deepcopy(self.model.state_dict()))
        with torch.no_grad():
            predictions = self.model.linear(self.images).argmax(1)
        right = round(self.plan[min(self.epoch, len(self.plan) - 1)] * len(self.images))
        labels = predictions.clone()
        labels[right:] = (predictions[right:] + 1) % 3
        self.epoch += 1
        yield self.images, labels


@pytest.mark.points(3)
def test_fit_history_and_best_weights():
    torch.manual_seed(0)
    model = Probe()
    plan = [0.3, 0.9, 0.5, 0.4]  # the best epoch is the second (index 1), not the last
    validation = ScriptedValidation(model, plan)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    history = training.fit(model, _batches([8, 8], seed=2), validation, epochs=4, optimizer=optimizer,
                           device="cpu", progress=False)
    expect_true(isinstance(history, dict), f"fit should return the history as a dict, got {type(history).__name__}")
    for key in HISTORY_KEYS:
        expect_true(key in history and len(history[key]) == 4,
                    f"history[{key!r}] should be a list with one value per epoch (4); got {history.get(key)!r}")
    expect_true(len(validation.snapshots) == 4, f"fit evaluated on the validation loader {len(validation.snapshots)} "
                                               f"times in 4 epochs; expected once per epoch")
    expect_close("history['val_acc']", history["val_acc"], plan, atol=1e-6,
                 hint="val_acc of each epoch comes from evaluate(model, val_loader, ...).")
    expect_true(all(t > 0 for t in history["epoch_time_s"]), "history['epoch_time_s'] should hold positive seconds")
    expect_true(history.get("best_epoch") == 1, f"history['best_epoch'] should be 1 (the 0-based index of the "
                                                f"highest val_acc, {plan}); got {history.get('best_epoch')!r}")
    final = model.linear.weight.detach()
    best, last = validation.snapshots[1]["linear.weight"], validation.snapshots[3]["linear.weight"]
    if torch.allclose(final, last) and not torch.allclose(final, best):
        fail("after fit the model holds the last epoch's weights, but the best val_acc was at epoch index 1: keep "
             "a copy when val_acc improves (copy.deepcopy(model.state_dict()); state_dict() alone shares the live "
             "tensors) and model.load_state_dict(best) before returning.")
    expect_close("weights after fit (those of the best epoch)", final, best, atol=1e-6,
                 hint="Restore the weights saved at the epoch with the highest val_acc.")


@pytest.mark.points(2)
def test_fit_learns_and_the_loss_decreases():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    centres = torch.tensor([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])

    def blobs(n):
        labels = torch.randint(0, 3, (n,), generator=generator)
        return centres[labels] + torch.randn(n, 2, generator=generator), labels

    x, y = blobs(192)
    train = [(x[i:i + 32], y[i:i + 32]) for i in range(0, 192, 32)]
    val = [blobs(64)]
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    history = training.fit(model, train, val, epochs=4, optimizer=optimizer, device="cpu", progress=False)
    losses = history["train_loss"]
    expect_true(losses[-1] < losses[0], f"the training loss did not decrease over 4 epochs: {losses}")
    expect_true(max(history["val_acc"]) > 0.85, f"on three well separated blobs the validation accuracy should "
                                                f"exceed 0.85 (chance: 0.33); got {history['val_acc']}")


@pytest.mark.points(1)
def test_set_seed_repeats_runs():
    training.set_seed(3)
    first = torch.rand(3), torch.randn(2)
    training.set_seed(3)
    second = torch.rand(3), torch.randn(2)
    expect_true(all(torch.equal(a, b) for a, b in zip(first, second)), "set_seed(3) twice should make torch draw "
                                                                       "the same random numbers")
