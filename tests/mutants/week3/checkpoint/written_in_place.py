# Mutant of solutions/week3/checkpoint.py: the checkpoint is written in place.
# expect: temporary file|os.replace
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

Run it: `python -m solutions.week3.checkpoint` trains 4 epochs straight, then 2 + resume + 2, and compares.
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
    version, words, gauss = random.getstate()
    bit_generator, keys, position, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {"bit_generator": bit_generator, "keys": torch.from_numpy(keys.astype(np.int64)),
                  "position": int(position), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": version, "words": torch.tensor(words, dtype=torch.int64), "gauss": gauss},
    }


def set_rng_state(state: dict) -> None:
    """Restore what `rng_state()` returned."""
    torch.set_rng_state(state["torch"])
    numpy_state = state["numpy"]
    np.random.set_state((numpy_state["bit_generator"], numpy_state["keys"].numpy().astype(np.uint32),
                         numpy_state["position"], numpy_state["has_gauss"], numpy_state["cached_gaussian"]))
    python_state = state["python"]
    random.setstate((python_state["version"], tuple(int(w) for w in python_state["words"]), python_state["gauss"]))


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
    checkpoint = {
        "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": int(epoch), "history": history or {}, "config": config or {}, "rng": rng_state(),
    }
    torch.save(checkpoint, path)
    return path


def check_compatible(model: nn.Module, state_dict: dict) -> None:
    """Raise ValueError naming the keys that are missing, unexpected, or of another shape, if any."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    shapes = sorted(f"{key} (checkpoint {tuple(state_dict[key].shape)}, model {tuple(expected[key].shape)})"
                    for key in set(expected) & set(state_dict) if state_dict[key].shape != expected[key].shape)
    problems = [f"{label}: {', '.join(keys)}" for label, keys in
                (("missing from the checkpoint", missing), ("unexpected in the checkpoint", unexpected),
                 ("shape mismatch", shapes)) if keys]
    if problems:
        raise ValueError("the checkpoint was saved from a different architecture; " + "; ".join(problems))


def load_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    scheduler=None, restore_rng: bool = True) -> dict:
    """Load a checkpoint written by `save_checkpoint` into `model` (and `optimizer`, `scheduler` when given).

    Uses `torch.load(path, weights_only=True)`, checks the architecture with `check_compatible` first, restores the
    RNG states when `restore_rng`, and returns {"epoch": ..., "history": ..., "config": ...}.
    """
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    check_compatible(model, checkpoint["model"])
    model.load_state_dict(checkpoint["model"])
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None and checkpoint["scheduler"] is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    if restore_rng:
        set_rng_state(checkpoint["rng"])
    return {"epoch": checkpoint["epoch"], "history": checkpoint["history"], "config": checkpoint["config"]}


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


if __name__ == "__main__":
    main()
