# Mutant of solutions/week3/loop.py: a per-epoch scheduler is stepped every batch.
# expect: per batch
"""Week 3 · Exercise 4: A training loop with schedules, callbacks, augmentation and mixed precision.

What you will learn
- Where a learning-rate scheduler steps: a *per-batch* schedule (cosine with warmup, OneCycle) steps after every
  optimizer step; a *per-epoch* schedule (step decay) steps once at the end of each epoch. Stepping a per-epoch
  schedule per batch decays it `steps_per_epoch` times too fast; stepping OneCycle per epoch leaves it stuck
  in warmup.
- Augmentation belongs to the training batches only: `augment` is applied in `train_one_epoch`, never in
  `evaluate`.
- How callbacks (callbacks.py) hook into `fit`.

`fit` returns the workbook's history dict: per-epoch `train_loss`, `train_acc`, `val_loss`, `val_acc`,
`epoch_time_s`, `lr` (the LR at the start of the epoch) and `best_epoch` (index of the best `val_acc`).

Run it: `python -m solutions.week3.loop --epochs 3` (or `--dry-run`).
"""
from __future__ import annotations

import argparse
import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
from torch import nn

from solutions.week2 import training as week2_training


@dataclass
class TrainState:
    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: object = None                           # a schedules.Schedule (scheduler + interval) or None
    history: dict = field(default_factory=dict)
    stop_training: bool = False                       # a callback sets this to end training after this epoch


def _autocast(dtype: torch.dtype | None):
    """bf16 autocast on CPU when a dtype is given; a no-op context otherwise."""
    return torch.autocast("cpu", dtype=dtype) if dtype is not None else nullcontext()


def train_one_epoch(model: nn.Module, loader, optimizer: torch.optim.Optimizer, loss_fn=None, schedule=None,
                    augment=None, autocast_dtype: torch.dtype | None = None) -> tuple[float, float]:
    """One pass over `loader`; returns (mean loss, accuracy) over the epoch.

    `schedule` is a `schedules.Schedule` or None: step `schedule.scheduler` after each optimizer step when
    `schedule.interval == "batch"` (per-epoch schedules are stepped by `fit`). `augment`, if given, maps a
    float batch (B, C, H, W) to an augmented batch and is applied here, to training batches only.
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    model.train()
    total_loss, correct, count = 0.0, 0, 0
    for images, labels in loader:
        if augment is not None:
            images = augment(images)
        with _autocast(autocast_dtype):
            logits = model(images)                    # (B, num_classes)
        loss = loss_fn(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if schedule is not None:
            schedule.scheduler.step()
        total_loss += loss.item() * len(labels)
        correct += (logits.argmax(dim=1) == labels).sum().item()
        count += len(labels)
    return total_loss / count, correct / count


def evaluate(model: nn.Module, loader, autocast_dtype: torch.dtype | None = None) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) on `loader`, without augmentation: week 2's `evaluate`, under autocast."""
    with _autocast(autocast_dtype):
        return week2_training.evaluate(model, loader)


def fit(model: nn.Module, train_loader, val_loader, optimizer: torch.optim.Optimizer, epochs: int, loss_fn=None,
        schedule=None, callbacks=(), augment=None, autocast_dtype: torch.dtype | None = None,
        state: TrainState | None = None) -> dict:
    """Train for up to `epochs` epochs and return the history dict (see the module docstring).

    Per epoch: record the LR, `train_one_epoch`, `evaluate` on `val_loader`, step a per-epoch schedule
    (`schedule.interval == "epoch"`), append to the history, then call `on_epoch_end(epoch, logs, state)` on each
    callback; stop when a callback sets `state.stop_training`. Call `on_train_begin` / `on_train_end` around it.
    Training loss uses `loss_fn` (e.g. with label smoothing); validation loss is plain cross-entropy, so runs with
    different training losses stay comparable.
    """
    state = state or TrainState(model, optimizer, schedule)
    history = state.history
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "epoch_time_s", "lr"):
        history.setdefault(key, [])
    for callback in callbacks:
        callback.on_train_begin(state)
    for epoch in range(len(history["train_loss"]), epochs):
        start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        train_loss, train_acc = train_one_epoch(model, train_loader, optimizer, loss_fn, schedule, augment,
                                                autocast_dtype)
        val_loss, val_acc = evaluate(model, val_loader, autocast_dtype=autocast_dtype)
        if schedule is not None and schedule.interval == "epoch":
            schedule.scheduler.step()
        logs = {"train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss, "val_acc": val_acc,
                "epoch_time_s": time.perf_counter() - start, "lr": lr}
        for key, value in logs.items():
            history[key].append(value)
        history["best_epoch"] = max(range(len(history["val_acc"])), key=history["val_acc"].__getitem__)
        for callback in callbacks:
            callback.on_epoch_end(epoch, logs, state)
        if state.stop_training:
            break
    for callback in callbacks:
        callback.on_train_end(state)
    return history


def main(argv: list[str] | None = None) -> None:
    from shared.data import load_dataset

    from .augmentation import make_loaders
    from .regularization import RegularizedNet
    from .schedules import one_cycle

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--dry-run", action="store_true", help="one epoch on 200 images")
    args = parser.parse_args(argv)
    epochs = 1 if args.dry_run else args.epochs
    ds = load_dataset("shapes", size=200 if args.dry_run else 1000, image_size=16, seed=0)
    train, val, _ = make_loaders(ds, batch_size=32)
    model = RegularizedNet(ds.num_classes, ds.image_shape, hidden=128, dropout_rate=0.2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    history = fit(model, train, val, optimizer, epochs, schedule=one_cycle(optimizer, 0.1, epochs * len(train)))
    print({key: [round(v, 4) for v in values] for key, values in history.items() if isinstance(values, list)})


if __name__ == "__main__":
    main()
