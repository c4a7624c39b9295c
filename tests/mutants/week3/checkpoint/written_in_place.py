# Mutant of solutions/week3/checkpoint.py: the checkpoint is written in place.
# expect: temporary file|os.replace
"""Week 3 · Exercise 6: Checkpoint and resume: one file that lets training continue exactly where it stopped.

What you will learn
- What "where it stopped" means: the model's weights, the optimizer's state (momentum buffers, Adam's moments),
  the scheduler's position, the epoch, the history, and every random number generator that drives the run:
  torch's, numpy's and python's global ones (dropout and augmentation draw from them), and any generator a
  loader owns. Week 3's `make_loaders` shuffles with its own `torch.Generator`: forget it, and the resumed run
  shuffles epoch 3 the way a fresh run shuffles epoch 1, and ends with other weights. Leave any one out and the
  resumed run diverges from the run that never stopped.
- Atomic writes: write to a temporary file in the same directory, then `os.replace` it over the old one. A crash
  (a `kill -9`, a power cut, a full disk) halfway through `torch.save` then leaves the previous checkpoint intact
  instead of a truncated file. Name the temporary file after the checkpoint and your process id, so the next run
  can tell a killed writer's leftover from a save in progress and delete it (`shared.atomic.remove_stale`).
- Safe loading with `torch.load(weights_only=True)`, which only unpickles tensors and plain containers, so a
  downloaded checkpoint cannot run code. numpy's RNG state holds an ndarray, which it refuses: store it as a
  tensor. Python's `random` state is a tuple of ints: store its 625 words as an int64 tensor too.
- A clear error when a checkpoint belongs to another architecture, naming the mismatched keys.

`SaveEveryEpoch` and `resume` (below, given) wire this into week 3's `loop.fit`: a run killed at any moment
restarts from its last finished epoch and ends with the same weights, bit for bit on CPU, as a run never stopped.

Run it: `python -m solutions.week3.checkpoint` trains 4 epochs straight, then 2 + resume + 2 (once restoring
the loader's generator, once forgetting it), and compares the weights.
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

from shared.atomic import remove_stale


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
                    epoch: int, history: dict | None = None, config: dict | None = None,
                    generators: dict[str, torch.Generator] | None = None) -> Path:
    """Write everything needed to resume into one file at `path`, atomically.

    Contents (a dict): "model", "optimizer", "scheduler" (None without one) state dicts, "epoch" (the number of
    epochs completed), "history", "config", "rng" (`rng_state()`) and "generators": `{name: generator.get_state()}`
    for each `torch.Generator` in `generators`, e.g. `{"train": train_loader.generator}`.
    Write with `torch.save` to a temporary file in the same directory,
    `tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")`, then
    `os.replace(temporary, path)`; on any error remove the temporary file and re-raise, leaving an existing
    checkpoint at `path` untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path.parent)  # temporary files that a killed save left behind (their process is gone)
    checkpoint = {
        "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": int(epoch), "history": history or {}, "config": config or {}, "rng": rng_state(),
        "generators": {name: generator.get_state() for name, generator in (generators or {}).items()},
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
                    scheduler=None, restore_rng: bool = True,
                    generators: dict[str, torch.Generator] | None = None) -> dict:
    """Load a checkpoint written by `save_checkpoint` into `model` (and `optimizer`, `scheduler` when given).

    Uses `torch.load(path, weights_only=True)`, checks the architecture with `check_compatible` first, and when
    `restore_rng` restores the global RNG states and the state of each generator in `generators` (the same names
    as at saving; a name the checkpoint lacks is a ValueError). Returns {"epoch": ..., "history": ..., "config": ...}.
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
        saved = checkpoint.get("generators", {})
        for name, generator in (generators or {}).items():
            if name not in saved:
                raise ValueError(f"the checkpoint holds no state for the generator {name!r} (it has: "
                                 f"{', '.join(saved) or 'none'}); save it with generators={{{name!r}: ...}}")
            generator.set_state(saved[name])
    return {"epoch": checkpoint["epoch"], "history": checkpoint["history"], "config": checkpoint["config"]}


class SaveEveryEpoch:
    """A `loop.fit` callback: after each epoch, `save_checkpoint` everything `resume` needs to continue.

    `generators` are the run's own generators, e.g. `{"train": train_loader.generator}`. Callbacks that keep
    their own memory (early stopping's patience) are not in the checkpoint.
    """

    def __init__(self, path: str | Path, generators: dict[str, torch.Generator] | None = None):
        self.path, self.generators = Path(path), generators

    def on_train_begin(self, state) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict, state) -> None:
        scheduler = state.schedule.scheduler if state.schedule is not None else None
        save_checkpoint(self.path, model=state.model, optimizer=state.optimizer, scheduler=scheduler,
                        epoch=epoch + 1, history=state.history, generators=self.generators)

    def on_train_end(self, state) -> None:
        pass


def resume(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer, schedule=None,
           generators: dict[str, torch.Generator] | None = None):
    """A `loop.TrainState` to hand to `fit(..., state=...)`: loaded from `path` when it exists, else fresh.

    `fit` starts at the epoch after the last one in the history, so the resumed run picks up where it stopped.
    Temporary files that a killed save left next to `path` are deleted first.
    """
    from .loop import TrainState

    remove_stale(Path(path).parent)
    history = {}
    if Path(path).exists():
        scheduler = schedule.scheduler if schedule is not None else None
        history = load_checkpoint(path, model, optimizer, scheduler, generators=generators)["history"]
    return TrainState(model, optimizer, schedule, history=history)


def _demo_run(ds, path: Path, epochs: int, stop_at: int | None, keep_generator: bool = True) -> nn.Module:
    """Week 3's loaders (augmented, shuffled by their own generator), a dropout net, SGD momentum and step decay,
    checkpointed every epoch; resumes from `path` if it exists, and stops (as if killed) after `stop_at` epochs."""
    from .augmentation import make_loaders, make_train_transform
    from .loop import fit
    from .regularization import RegularizedNet
    from .schedules import step_decay

    torch.manual_seed(0)
    train, val, _ = make_loaders(ds, batch_size=32, transform=make_train_transform(ds.image_shape[0]), seed=0)
    model = RegularizedNet(ds.num_classes, ds.image_shape, hidden=64, dropout_rate=0.3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    schedule = step_decay(optimizer, step_size=1, gamma=0.7)
    generators = {"train": train.generator} if keep_generator else None
    state = resume(path, model, optimizer, schedule, generators=generators)
    fit(model, train, val, optimizer, epochs if stop_at is None else stop_at, schedule=schedule,
        callbacks=[SaveEveryEpoch(path, generators)], state=state)
    return model


def _difference(a: nn.Module, b: nn.Module) -> float:
    return max((x - y).abs().max().item() for x, y in zip(a.parameters(), b.parameters()))


def main(argv: list[str] | None = None) -> None:
    from shared.data import load_dataset

    parser = argparse.ArgumentParser(description="Train 4 epochs straight, then 2 + resume + 2, and compare.")
    parser.add_argument("--dry-run", action="store_true", help="2 epochs straight against 1 + resume + 1")
    args = parser.parse_args(argv)
    epochs = 2 if args.dry_run else 4
    ds = load_dataset("shapes", size=100 if args.dry_run else 200, image_size=16, seed=0)
    with tempfile.TemporaryDirectory() as directory:
        straight = _demo_run(ds, Path(directory) / "never.pt", epochs=epochs, stop_at=None)
        for keep, label in ((True, "with the loader's generator"), (False, "forgetting the loader's generator")):
            path = Path(directory) / f"run-{keep}.pt"
            _demo_run(ds, path, epochs=epochs, stop_at=epochs // 2, keep_generator=keep)
            resumed = _demo_run(ds, path, epochs=epochs, stop_at=None, keep_generator=keep)
            print(f"{label}: max |straight - resumed| over all weights = {_difference(straight, resumed):.3g}")


if __name__ == "__main__":
    main()
