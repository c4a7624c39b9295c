# + active="ipynb"
# # Notebook set-up (a comment in the .py file): find the workbook from the repository root, and let
# # `from .x import y` lines import your other week2 files, as `python -m weeks.week2.training` does.
# import sys, pathlib; sys.path.insert(0, str(pathlib.Path.cwd().parents[1]))
# __package__ = "weeks.week2"
# -

# Exercise generated from solutions/week2/training.py by `workbook release`: fill in each `# YOUR CODE HERE`.
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

Run it: `python -m weeks.week2.cnn --epochs 1 --dry-run` trains the week's CNN with this loop.
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

from .recipe import RECIPE, Recipe, learning_rates


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and GPU), so that a run can be repeated."""
    # YOUR CODE HERE
    raise NotImplementedError()


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
    # YOUR CODE HERE
    raise NotImplementedError()


def evaluate(model: nn.Module, loader, loss_fn=None, device: torch.device | str = "cpu") -> tuple[float, float]:
    """(mean loss, accuracy) of `model` over every example of `loader`, without changing the model.

    Runs in eval mode under `torch.no_grad()` and leaves the model in the mode it was in (train or eval).
    Averages weight each batch by its size. loss_fn defaults to `nn.CrossEntropyLoss()`.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


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


def make_optimizer(model: nn.Module, learning_rate: float, total_steps: int,
                   recipe: Recipe = RECIPE) -> torch.optim.Optimizer:
    """Adam as the recipe says, its learning rate following `learning_rates(...)` step by step.

    The schedule is a LambdaLR stepped by a hook after every `optimizer.step()`, so `fit` needs no change and
    the first step already uses the first rate of the list (Keras' twin reads the same list).
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, betas=recipe.adam_betas,
                                 eps=recipe.adam_epsilon)
    rates = learning_rates(learning_rate, total_steps, recipe)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: rates[min(step, total_steps - 1)] / learning_rate)
    optimizer.register_step_post_hook(lambda *_: schedule.step())
    return optimizer


def train_with_adam(model: nn.Module, train_loader, val_loader, *, epochs: int,
                    learning_rate: float = RECIPE.learning_rate, seed: int | None = None,
                    device: torch.device | str | None = None, progress: bool = True) -> dict:
    """How `workbook compare` trains this week's PyTorch models: recipe.py's recipe (Adam, warm-up then cosine,
    stepped per batch), then `fit`. The Keras twin is keras_cnn.py's `train_keras`."""
    optimizer = make_optimizer(model, learning_rate, epochs * len(train_loader))
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
    # YOUR CODE HERE
    raise NotImplementedError()


# ## Check your work
# The cell below runs this exercise's autograder tests on `weeks/week2/training.py` as saved, and prints the
# scoreboard: save the notebook first (Ctrl+S). From a terminal: `pytest autograder/week2/test_training.py`.

# + active="ipynb"
# from shared.grading.notebook import grade
# grade("week2", "training", globals())
