# Mutant of solutions/week2/training.py: train_one_epoch never clears the gradients.
# expect: zero_grad
"""Week 2 · Exercise 3: The training loop: train_one_epoch, evaluate, fit.

What you will learn
- The five lines at the heart of every PyTorch training step, and why their order matters:
  zero the gradients, forward, loss, backward, step. Forget `zero_grad` and each step uses the *sum* of all
  gradients so far.
- Evaluation mode: `model.eval()` switches Dropout off and makes BatchNorm use its running statistics;
  `torch.no_grad()` skips building the autograd graph. Put the model back in the mode it was in afterwards.
- Averages over a whole loader: weight each batch by its size (the last batch is often smaller).
- Keeping the best weights: validation accuracy usually peaks before the last epoch; `fit` keeps a copy of the
  weights of the best epoch and restores them at the end.

Run it: `python -m solutions.week2.cnn --epochs 1 --dry-run` trains the week's CNN with this loop.
"""
from __future__ import annotations

import copy
import random
import time

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from shared.history import empty_history


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and GPU), so that a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def default_device() -> torch.device:
    """The GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def train_one_epoch(model: nn.Module, loader, optimizer: torch.optim.Optimizer, loss_fn,
                    device: torch.device | str = "cpu") -> tuple[float, float]:
    """One pass over `loader`, one optimizer step per batch. Returns (mean loss, accuracy) over the epoch.

    loader yields (images, labels): float32 (B, C, H, W) and int64 (B,); model returns logits (B, classes);
    loss_fn(logits, labels) returns the batch's mean loss (e.g. `nn.CrossEntropyLoss()`).
    Both returned numbers are averages over examples (each batch weighted by its size), computed from the
    outputs seen during the epoch; accuracy is in [0, 1].
    """
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        logits = model(images)           # (B, classes)
        loss = loss_fn(logits, labels)   # mean over the batch
        loss.backward()
        optimizer.step()
        batch_size = labels.shape[0]
        total_loss += loss.item() * batch_size
        correct += (logits.argmax(dim=1) == labels).sum().item()
        seen += batch_size
    if seen == 0:
        raise ValueError("the training loader yielded no batches")
    return total_loss / seen, correct / seen


def evaluate(model: nn.Module, loader, loss_fn=None, device: torch.device | str = "cpu") -> tuple[float, float]:
    """(mean loss, accuracy) of `model` over every example of `loader`, without changing the model.

    Runs in eval mode under `torch.no_grad()` and leaves the model in the mode it was in (train or eval).
    Averages weight each batch by its size. loss_fn defaults to `nn.CrossEntropyLoss()`.
    """
    loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
    was_training = model.training
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    with torch.no_grad():
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            logits = model(images)
            batch_size = labels.shape[0]
            total_loss += loss_fn(logits, labels).item() * batch_size
            correct += (logits.argmax(dim=1) == labels).sum().item()
            seen += batch_size
    model.train(was_training)
    if seen == 0:
        raise ValueError("the evaluation loader yielded no batches")
    return total_loss / seen, correct / seen


def predict(model: nn.Module, loader, device: torch.device | str = "cpu",
            probabilities: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs for every example of `loader`, in order: (logits (N, classes), labels (N,)) on the CPU.

    With `probabilities=True` the first tensor holds softmax probabilities instead of logits.
    Like `evaluate`, runs in eval mode without gradients and restores the model's mode.
    """
    was_training = model.training
    model.eval()
    outputs, targets = [], []
    with torch.no_grad():
        for images, labels in loader:
            outputs.append(model(images.to(device)).float().cpu())
            targets.append(labels.cpu())
    model.train(was_training)
    logits = torch.cat(outputs)
    return (logits.softmax(dim=1) if probabilities else logits), torch.cat(targets)


def _step_scheduler(scheduler, val_loss: float) -> None:
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(val_loss)  # the one scheduler that needs the metric it watches
    else:
        scheduler.step()


def train_with_adam(model: nn.Module, train_loader, val_loader, *, epochs: int, learning_rate: float = 1e-3,
                    seed: int | None = None, device: torch.device | str | None = None, progress: bool = True) -> dict:
    """How `workbook compare` trains this week's PyTorch models: Adam at `learning_rate`, then `fit`."""
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    return fit(model, train_loader, val_loader, epochs=epochs, optimizer=optimizer, device=device, seed=seed,
               progress=progress)


def fit(model: nn.Module, train_loader, val_loader, *, epochs: int, optimizer: torch.optim.Optimizer,
        loss_fn=None, device: torch.device | str | None = None, scheduler=None, progress: bool = True,
        seed: int | None = None) -> dict:
    """Train for `epochs` epochs, evaluating on `val_loader` after each; keep the best epoch's weights.

    Returns the history (see AUTHORING.md): per-epoch lists `train_loss`, `train_acc`, `val_loss`, `val_acc`,
    `epoch_time_s`, `lr` (the learning rate used during the epoch), and `best_epoch`, the 0-based index of the
    highest `val_acc` (the first one on ties). When `fit` returns, the model holds the weights it had at the
    end of `best_epoch`, not those of the last epoch. `scheduler.step()` runs once per epoch (with the
    validation loss for ReduceLROnPlateau). A tqdm bar shows progress unless `progress=False`.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if seed is not None:
        set_seed(seed)
    device = torch.device(device) if device is not None else default_device()
    loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
    model.to(device)
    history = empty_history()
    best_acc, best_state = -1.0, None
    bar = tqdm(range(epochs), desc="epochs", unit="epoch", disable=not progress)
    for epoch in bar:
        start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        train_loss, train_acc = train_one_epoch(model, train_loader, optimizer, loss_fn, device)
        val_loss, val_acc = evaluate(model, val_loader, loss_fn, device)
        for key, value in zip(("train_loss", "train_acc", "val_loss", "val_acc", "epoch_time_s", "lr"),
                              (train_loss, train_acc, val_loss, val_acc, time.perf_counter() - start, lr)):
            history[key].append(value)
        if val_acc > best_acc:  # strictly better: the first best epoch wins ties
            best_acc, history["best_epoch"] = val_acc, epoch
            best_state = copy.deepcopy(model.state_dict())  # a copy: state_dict() shares the live tensors
        if scheduler is not None:
            _step_scheduler(scheduler, val_loss)
        bar.set_postfix(loss=f"{train_loss:.3f}", acc=f"{train_acc:.3f}", val_acc=f"{val_acc:.3f}")
    model.load_state_dict(best_state)
    return history
