"""Grades week1/train_mlp.py: the data preparation, both training loops, and that the network learns.

The training loops are compared with an autograd + torch.optim reference on tiny random data, fed in order
(generator=None), so any batching that walks the data in order passes.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from shared.grading.checks import expect_close, expect_finite, expect_shape, expect_true, fail
from shared.grading.target import exercise

train_mlp = exercise("week1", "train_mlp")

D, H, K, N, BATCH = 6, 5, 3, 20, 8  # 20 examples in batches of 8: the last batch is smaller


def _params(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {"W1": torch.randn(D, H, generator=generator) * 0.5, "b1": torch.randn(H, generator=generator) * 0.1,
            "W2": torch.randn(H, K, generator=generator) * 0.5, "b2": torch.randn(K, generator=generator) * 0.1}


def _data(seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(N, D, generator=generator), torch.randint(0, K, (N,), generator=generator)


def _logits(params, x):
    return torch.relu(x @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"]


def _reference_epoch(params, x, y, lr, momentum, last: dict | None = None):
    """One epoch in order with autograd and torch.optim.SGD; returns (params after, mean loss, accuracy).
    `last`, if given, receives the last batch's loss and accuracy (what a typical bug returns)."""
    leaves = {name: value.clone().requires_grad_(True) for name, value in params.items()}
    optimizer = torch.optim.SGD(leaves.values(), lr=lr, momentum=momentum)
    total_loss, correct = 0.0, 0
    for start in range(0, len(x), BATCH):
        xb, yb = x[start:start + BATCH], y[start:start + BATCH]
        optimizer.zero_grad()
        logits = _logits(leaves, xb)
        loss = F.cross_entropy(logits, yb)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(yb)
        correct += (logits.argmax(1) == yb).sum().item()
        if last is not None:
            last.update(loss=loss.item(), acc=(logits.argmax(1) == yb).float().mean().item())
    return {name: leaf.detach() for name, leaf in leaves.items()}, total_loss / len(x), correct / len(x)


def _check_epoch_totals(function: str, loss, acc, expected_loss, expected_acc, last: dict) -> None:
    """The epoch's loss and accuracy: over every example, each batch weighted by its size."""
    for name, value in (("loss", loss), ("accuracy", acc)):
        expect_finite(f"{name} returned by {function}", value)
    if abs(acc - expected_acc) > 1e-6 and abs(acc - last["acc"]) < 1e-6:
        fail(f"{function} returned accuracy {acc:.3f}, the accuracy of the last batch only (over the epoch: "
             f"{expected_acc:.3f}). Count correct predictions over every batch, then divide by the number of examples.")
    if abs(loss - expected_loss) > 1e-4 and abs(loss - last["loss"]) < 1e-5:
        fail(f"{function} returned loss {loss:.4f}, the loss of the last batch only (mean over the epoch: "
             f"{expected_loss:.4f}). Add up every batch's loss, weighted by its size.")
    expect_close(f"mean training loss returned by {function}", loss, expected_loss, atol=1e-4,
                 hint="weight each batch's mean loss by its size (the last batch is smaller).")
    expect_close(f"training accuracy returned by {function}", acc, expected_acc, atol=1e-6,
                 hint="correct predictions over every batch, divided by the number of examples.")


@pytest.mark.points(1)
def test_flatten_split():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 4, 5, 3), dtype=np.uint8)  # (N, H, W, C)
    labels = np.array([2, 0, 1])
    mean, std = np.array([0.4, 0.5, 0.6], np.float32), np.array([0.2, 0.25, 0.3], np.float32)
    x, y = train_mlp.flatten_split(images, labels, mean, std)
    expect_shape("x from flatten_split of (3, 4, 5, 3) images", x, (3, 60))
    expect_true(x.dtype == torch.float32, f"flatten_split: expected x of dtype torch.float32, got {x.dtype}")
    expect_true(y.dtype == torch.int64, f"flatten_split: expected y of dtype torch.int64, got {y.dtype}")
    expected = ((images / 255.0 - mean) / std).reshape(3, -1)
    channels_first = ((images / 255.0 - mean) / std).transpose(0, 3, 1, 2).reshape(3, -1)
    if np.allclose(x.numpy(), channels_first, atol=1e-5):
        fail("flatten_split: the values are flattened in (C, H, W) order; keep the images' (H, W, C) order.")
    if np.allclose(x.numpy(), ((images - mean) / std).reshape(3, -1), atol=1e-3):
        fail("flatten_split: mean and std are on the [0, 1] scale: divide the uint8 images by 255 first.")
    expect_close("x from flatten_split", x, expected, atol=1e-5, hint="x = (images / 255 - mean) / std, per channel.")
    expect_close("y from flatten_split", y, labels, atol=0)


@pytest.mark.points(3)
def test_train_one_epoch_scratch():
    params, (x, y) = _params(), _data()
    start = {name: value.clone() for name, value in params.items()}
    # torch.optim.SGD steps any tensors with a .grad, so this tests your loop alone, not your SGD.
    optimizer = torch.optim.SGD(list(params.values()), lr=0.5, momentum=0.9)
    loss, acc = train_mlp.train_one_epoch_scratch(params, optimizer, x, y, BATCH, None)
    last: dict = {}
    expected, expected_loss, expected_acc = _reference_epoch(start, x, y, lr=0.5, momentum=0.9, last=last)
    if all(torch.equal(params[name], start[name]) for name in params):
        fail("train_one_epoch_scratch: the parameters did not change. Set each `param.grad` to its gradient from "
             "mlp_backward and call optimizer.step(); the optimizer holds the tensors of `params`, so do not "
             "replace them in the dict.")
    for name in params:
        expect_close(f"params['{name}'] after one epoch of train_one_epoch_scratch (lr 0.5, momentum 0.9)",
                     params[name], expected[name], atol=1e-5,
                     hint="one optimizer step per batch of 8, in order, with the gradients of mlp_backward.")
    _check_epoch_totals("train_one_epoch_scratch", loss, acc, expected_loss, expected_acc, last)
    val_loss, val_acc = train_mlp.evaluate_scratch(params, x, y)
    logits = _logits(params, x)
    expect_close("loss from evaluate_scratch", val_loss, F.cross_entropy(logits, y), atol=1e-5)
    expect_close("accuracy from evaluate_scratch", val_acc, (logits.argmax(1) == y).float().mean(), atol=1e-6)


@pytest.mark.points(1)
def test_torch_mlp_from_params():
    params, (x, _) = _params(), _data()
    model = train_mlp.torch_mlp_from_params(params)
    expect_true(isinstance(model, nn.Module), f"torch_mlp_from_params: expected an nn.Module, got {type(model)}")
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if linears and linears[0].weight.shape == (H, D) and torch.equal(linears[0].weight.detach(),
                                                                      params["W1"].reshape(H, D)):
        fail("torch_mlp_from_params: the first Linear holds W1 reshaped to (H, D), which scrambles it. "
             "nn.Linear(D, H).weight is the transpose of W1: copy W1.T (and W2.T).")
    try:
        logits = model(x)
    except RuntimeError as error:
        fail(f"torch_mlp_from_params: model(x) raised `{error}`. nn.Linear(D, H).weight has shape (H, D): "
             f"copy W1.T, not W1.")
    expect_close("model(x) for the model from torch_mlp_from_params", logits, _logits(params, x), atol=1e-5,
                 hint="it must compute the same function as mlp_forward(params, x).")
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)
    expect_true(torch.equal(params["W1"], _params()["W1"]),
                "torch_mlp_from_params: changing the model's weights changed params: copy the values (copy_).")


@pytest.mark.points(2)
def test_train_step_torch():
    torch.manual_seed(0)
    (x, y), (x_old, y_old) = _data(1), _data(2)
    model = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, K))
    reference = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, K))
    reference.load_state_dict(model.state_dict())
    stale = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, K))
    stale.load_state_dict(model.state_dict())
    optimizers = [torch.optim.SGD(m.parameters(), lr=0.2) for m in (model, reference, stale)]
    for m in (model, stale):  # gradients of an earlier batch, still sitting in .grad
        F.cross_entropy(m(x_old), y_old).backward()
    logits = train_mlp.train_step_torch(model, optimizers[0], x, y)
    expect_shape("logits returned by train_step_torch", logits, (N, K))
    expect_true(not logits.requires_grad, "train_step_torch: return the logits detached (logits.detach()).")
    expected_logits = reference(x).detach()
    optimizers[1].zero_grad()
    F.cross_entropy(reference(x), y).backward()
    optimizers[1].step()
    F.cross_entropy(stale(x), y).backward()  # what happens without zero_grad: gradients add up
    optimizers[2].step()
    got = torch.cat([p.detach().flatten() for p in model.parameters()])
    if torch.allclose(got, torch.cat([p.detach().flatten() for p in stale.parameters()]), atol=1e-6):
        fail("train_step_torch: the update used the gradients of an earlier batch as well: `.backward()` adds to "
             "`.grad`. Call optimizer.zero_grad() before the backward pass.")
    expect_close("parameters after train_step_torch (SGD, lr 0.2)", got,
                 torch.cat([p.detach().flatten() for p in reference.parameters()]), atol=1e-6,
                 hint="zero_grad, forward, F.cross_entropy (mean), backward, step.")
    expect_close("logits returned by train_step_torch (before the step)", logits, expected_logits, atol=1e-6)


@pytest.mark.points(2)
def test_torch_epoch_and_evaluate():
    params, (x, y) = _params(), _data()
    model = train_mlp.torch_mlp_from_params(params)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    loss, acc = train_mlp.train_one_epoch_torch(model, optimizer, x, y, BATCH, None)
    last: dict = {}
    expected, expected_loss, expected_acc = _reference_epoch(params, x, y, lr=0.5, momentum=0.9, last=last)
    expect_close("model(x) after one epoch of train_one_epoch_torch", model(x).detach(), _logits(expected, x),
                 atol=1e-5, hint="(it runs your train_step_torch on every batch, in order: if that test fails, fix "
                                 "it first)")
    _check_epoch_totals("train_one_epoch_torch", loss, acc, expected_loss, expected_acc, last)
    model.train()
    for parameter in model.parameters():
        parameter.grad = None
    val_loss, val_acc = train_mlp.evaluate_torch(model, x, y)
    logits = model(x).detach()
    expect_close("loss from evaluate_torch", val_loss, F.cross_entropy(logits, y), atol=1e-5)
    expect_close("accuracy from evaluate_torch", val_acc, (logits.argmax(1) == y).float().mean(), atol=1e-6)
    expect_true(all(p.grad is None for p in model.parameters()),
                "evaluate_torch computed gradients: evaluate under torch.no_grad() and never call backward.")


@pytest.mark.points(2)
@pytest.mark.timeout(60)
def test_learns_on_shapes():
    config = train_mlp.TrainConfig(epochs=6, dataset_size=300, image_size=16, hidden_features=64, batch_size=64,
                                   lr=0.02, momentum=0.9, seed=0)
    data = train_mlp.load_flat_data(config)
    history = train_mlp.fit(config, "scratch", data, verbose=False)
    accuracies = history["train_acc"]
    expect_true(len(accuracies) == config.epochs, f"fit: expected {config.epochs} epochs of history, got {history}")
    # Measured over seeds 0-4 with the reference: training accuracy after 6 epochs 0.65-0.72 (chance: 0.10).
    # (Validation accuracy stays near chance for an MLP on raw pixels, so it is not graded.)
    expect_finite("training accuracy of the last epoch", accuracies[-1])
    expect_true(accuracies[-1] > 0.45,
                f"after 6 epochs on 240 shapes images, training accuracy is {accuracies[-1]:.2f} (per epoch: "
                f"{[round(a, 2) for a in accuracies]}); a working loop reaches > 0.45. Losses per epoch: "
                f"{[round(v, 2) for v in history['train_loss']]}.")
