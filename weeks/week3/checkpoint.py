# + active="ipynb"
# # Notebook set-up (a comment in the .py file): find the workbook from the repository root, and let
# # `from .x import y` lines import your other week3 files, as `python -m weeks.week3.checkpoint` does.
# import sys, pathlib; sys.path.insert(0, str(pathlib.Path.cwd().parents[1]))
# __package__ = "weeks.week3"
# -

# Exercise generated from solutions/week3/checkpoint.py by `workbook release`: fill in each `# YOUR CODE HERE`.
"""Week 3 · Exercise 6: Checkpoint and resume: one file that lets training continue exactly where it stopped.

What you will learn
- What "where it stopped" means: the model's weights, the optimizer's state (momentum buffers, Adam's moments),
  the scheduler's position, the epoch, the history, and every random number generator (torch, numpy, python):
  shuffling, dropout and augmentation draw from them. Leave one out and the resumed run diverges from the run
  that never stopped.
- Atomic writes: write to a temporary file in the same directory, then `os.replace` it over the old one. A crash
  (or a full disk) halfway through `torch.save` then leaves the previous checkpoint intact instead of a
  truncated file.
- Safe loading with `torch.load(weights_only=True)`, which only unpickles tensors and plain containers, so a
  downloaded checkpoint cannot run code. numpy's RNG state holds an ndarray, which it refuses: store it as a
  tensor. Python's `random` state is a tuple of ints: store its 625 words as an int64 tensor too.
- A clear error when a checkpoint belongs to another architecture, naming the mismatched keys.

Run it: `python -m weeks.week3.checkpoint` trains 4 epochs straight, then 2 + resume + 2, and compares.
"""
from __future__ import annotations

import argparse
import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn


def rng_state() -> dict:
    """The state of torch's, numpy's and python's global generators, in types `weights_only` loading accepts."""
    # YOUR CODE HERE
    raise NotImplementedError()


def set_rng_state(state: dict) -> None:
    """Restore what `rng_state()` returned."""
    # YOUR CODE HERE
    raise NotImplementedError()


def save_checkpoint(path: str | Path, *, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler=None,
                    epoch: int, history: dict | None = None, config: dict | None = None) -> Path:
    """Write everything needed to resume into one file at `path`, atomically.

    Contents (a dict): "model", "optimizer", "scheduler" (None without one) state dicts, "epoch" (the number of
    epochs completed), "history", "config", "rng" (`rng_state()`). Write with `torch.save` to a temporary file in
    the same directory (`tempfile.mkstemp(dir=...)`), then `os.replace(temporary, path)`; on any error remove the
    temporary file and re-raise, leaving an existing checkpoint at `path` untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # YOUR CODE HERE
    raise NotImplementedError()


def check_compatible(model: nn.Module, state_dict: dict) -> None:
    """Raise ValueError naming the keys that are missing, unexpected, or of another shape, if any."""
    # YOUR CODE HERE
    raise NotImplementedError()


def load_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    scheduler=None, restore_rng: bool = True) -> dict:
    """Load a checkpoint written by `save_checkpoint` into `model` (and `optimizer`, `scheduler` when given).

    Uses `torch.load(path, weights_only=True)`, checks the architecture with `check_compatible` first, restores the
    RNG states when `restore_rng`, and returns {"epoch": ..., "history": ..., "config": ...}.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def _demo_run(path: Path, epochs: int, stop_at: int | None) -> nn.Module:
    """Train a dropout MLP with SGD momentum + step decay on random data; resume from `path` if it exists."""
    torch.manual_seed(0)
    images, labels = torch.randn(128, 20), torch.randint(0, 3, (128,))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels), batch_size=16, shuffle=True)
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    start = load_checkpoint(path, model, optimizer, scheduler)["epoch"] if path.exists() else 0
    for epoch in range(start, epochs):
        for batch, target in loader:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(batch), target).backward()
            optimizer.step()
        scheduler.step()
        if stop_at is not None and epoch + 1 == stop_at:
            save_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler, epoch=epoch + 1)
            break
    return model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train 4 epochs straight, then 2 + resume + 2, and compare.")
    parser.add_argument("--dry-run", action="store_true", help="the same: it is already quick")
    parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "run.pt"
        straight = _demo_run(Path(directory) / "never.pt", epochs=4, stop_at=None)
        _demo_run(path, epochs=4, stop_at=2)
        resumed = _demo_run(path, epochs=4, stop_at=None)
    difference = max((a - b).abs().max().item() for a, b in zip(straight.parameters(), resumed.parameters()))
    print(f"max |straight - resumed| over all weights: {difference:.3g}")


# + active="py"
if __name__ == "__main__":
    main()
# -


# ## Check your work
# The cell below runs this exercise's autograder tests on `weeks/week3/checkpoint.py` as saved, and prints the
# scoreboard: save the notebook first (Ctrl+S). From a terminal: `pytest autograder/week3/test_checkpoint.py`.

# + active="ipynb"
# from shared.grading.notebook import grade
# grade("week3", "checkpoint", globals())
