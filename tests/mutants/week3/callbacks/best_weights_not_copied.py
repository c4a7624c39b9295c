# Mutant of solutions/week3/callbacks.py: early stopping keeps state_dict() without a deep copy.
# expect: copy.deepcopy
"""Week 3 · Exercise 5: Callbacks for the PyTorch loop: early stopping, checkpoints of the best model, logging.

What you will learn
- A callback protocol in a dozen lines: the loop (`loop.fit`) calls `on_train_begin(state)`,
  `on_epoch_end(epoch, logs, state)` and `on_train_end(state)` on each callback; a callback stops training by
  setting `state.stop_training = True`.
- Early stopping that *restores the best weights*: stopping at epoch 12 because val loss has not improved since
  epoch 8 is only useful if you keep epoch 8's model, not epoch 12's.
- Keeping the best checkpoint by a monitored metric, and logging LR and metrics each epoch.

PyTorch vs Keras. Keras ships `keras.callbacks.EarlyStopping`, `ModelCheckpoint` and `ReduceLROnPlateau` (see
`keras_twins.keras_callbacks`). Its `fit` owns the loop and calls hooks on every callback object with a `logs`
dict; the callback reaches the model through `self.model`. Here the loop is ours, so the protocol is ours too: the
hooks take the state (model, optimizer, history) explicitly, which is easier to test and to read, but every
extra behaviour (a hook per batch, say) is one we write. Both designs agree on the important defaults:
monitor a *validation* metric, and say whether smaller or larger is better (`mode`).

Run it: `python -m solutions.week3.callbacks --epochs 20` trains a small MLP on shapes with early stopping.
"""
from __future__ import annotations

import argparse
import copy
import math
from pathlib import Path

import torch

from shared.atomic import atomic_write


class Callback:
    """Base class: override the hooks you need. `state` is a `loop.TrainState`."""

    def on_train_begin(self, state) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict, state) -> None:
        pass

    def on_train_end(self, state) -> None:
        pass


def _improved(value: float, best: float, mode: str, min_delta: float) -> bool:
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    return value < best - min_delta if mode == "min" else value > best + min_delta


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by more than `min_delta` for `patience` epochs.

    With `restore_best_weights=True`, the model ends with the weights of the best epoch (at the latest in
    `on_train_end`). Attributes after training: `best` (the best value), `best_epoch`, `stopped_epoch`
    (None if it never stopped).

    Example: val_loss = [1.0, 0.5, 0.6, 0.7], patience=2 -> stops after epoch 3, and the model holds epoch 1's weights.
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "min", patience: int = 3, min_delta: float = 0.0,
                 restore_best_weights: bool = True):
        self.monitor, self.mode, self.patience, self.min_delta = monitor, mode, patience, min_delta
        self.restore_best_weights = restore_best_weights
        self.best, self.best_epoch, self.stopped_epoch = math.nan, None, None

    def on_train_begin(self, state) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch, self.stopped_epoch, self.wait, self.best_weights = None, None, 0, None

    def on_epoch_end(self, epoch: int, logs: dict, state) -> None:
        value = float(logs[self.monitor])
        if _improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            # A deep copy: state_dict() returns references that the next optimizer step would overwrite.
            self.best_weights = state.model.state_dict()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            state.stop_training = True

    def on_train_end(self, state) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            state.model.load_state_dict(self.best_weights)


class ModelCheckpoint(Callback):
    """Save `model.state_dict()` to `path` whenever `monitor` improves, so `path` always holds the best model.

    Save atomically: `shared.atomic.atomic_write(path, lambda temporary: torch.save(..., temporary))` writes a
    temporary file next to `path` and moves it over `path` only once it is complete (exercise 6 builds this
    recipe), so a crash during a save keeps the previous best model instead of leaving half a file.
    Attributes: `best` (the best value seen), `best_epoch`. Load it back with
    `model.load_state_dict(torch.load(path, weights_only=True))`.
    """

    def __init__(self, path: str | Path, monitor: str = "val_acc", mode: str = "max"):
        self.path, self.monitor, self.mode = Path(path), monitor, mode
        self.best = -math.inf if mode == "max" else math.inf
        self.best_epoch = None

    def on_epoch_end(self, epoch: int, logs: dict, state) -> None:
        value = float(logs[self.monitor])
        if _improved(value, self.best, self.mode, 0.0):
            self.best, self.best_epoch = value, epoch
            atomic_write(self.path, lambda temporary: torch.save(state.model.state_dict(), temporary))


class HistoryLogger(Callback):
    """Print one line per epoch: the metrics and the learning rate the epoch ran with."""

    def __init__(self, print_fn=print):
        self.print_fn = print_fn

    def on_epoch_end(self, epoch: int, logs: dict, state) -> None:
        parts = [f"{key} {value:.4g}" for key, value in logs.items() if isinstance(value, (int, float))]
        self.print_fn(f"epoch {epoch:3d}  " + "  ".join(parts))


def main(argv: list[str] | None = None) -> None:
    from shared.data import load_dataset

    from .augmentation import make_loaders
    from .loop import fit
    from .regularization import RegularizedNet

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--dry-run", action="store_true", help="two epochs on 200 images")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    ds = load_dataset("shapes", size=200 if args.dry_run else 1000, image_size=16, seed=0)
    train, val, _ = make_loaders(ds, batch_size=32)
    model = RegularizedNet(ds.num_classes, ds.image_shape, hidden=256, dropout_rate=0.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    stopper = EarlyStopping(patience=3)
    fit(model, train, val, optimizer, epochs=2 if args.dry_run else args.epochs,
        callbacks=[stopper, HistoryLogger()])
    print(f"best val_loss {stopper.best:.4f} at epoch {stopper.best_epoch}; stopped at {stopper.stopped_epoch}")


if __name__ == "__main__":
    main()
