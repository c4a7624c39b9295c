"""Week 3 · checkpoint.py: resume equals never stopping (the loader's own generator included); atomic writes;
weights_only loading; clear mismatch errors."""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from shared.grading.checks import expect_close, expect_true, fail
from shared.grading.target import exercise

checkpoint = exercise("week3", "checkpoint")


def _parts(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    return model, optimizer, scheduler


def _data():
    generator = torch.Generator().manual_seed(42)
    dataset = torch.utils.data.TensorDataset(torch.randn(48, 8, generator=generator),
                                             torch.randint(0, 3, (48,), generator=generator))
    return torch.utils.data.DataLoader(dataset, batch_size=12, shuffle=True)  # shuffles from torch's global RNG


def _epoch(model, optimizer, scheduler, loader):
    for images, labels in loader:
        noise = torch.from_numpy(np.random.randn(*images.shape).astype(np.float32)) * 0.1 * random.random()
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(images + noise), labels).backward()
        optimizer.step()
    scheduler.step()


def _seed_all(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


@pytest.mark.points(4)
def test_resume_equals_training_straight_through(tmp_path):
    loader = _data()
    _seed_all(0)
    model, optimizer, scheduler = _parts()
    _seed_all(1)
    for _ in range(4):
        _epoch(model, optimizer, scheduler, loader)
    straight = [p.detach().clone() for p in model.parameters()]

    model, optimizer, scheduler = _parts()
    _seed_all(1)
    for _ in range(2):
        _epoch(model, optimizer, scheduler, loader)
    path = tmp_path / "run.pt"
    checkpoint.save_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler, epoch=2,
                               history={"train_loss": [1.0, 0.9]})
    saved_momentum = [optimizer.state[p]["momentum_buffer"].clone() for p in model.parameters()]

    model, optimizer, scheduler = _parts(seed=7)  # a fresh process: other weights, no momentum, scheduler at 0
    _seed_all(123)                                # ... and RNGs elsewhere
    info = checkpoint.load_checkpoint(path, model, optimizer, scheduler)
    expect_true(info.get("epoch") == 2, f"load_checkpoint should return the epoch (2), got {info.get('epoch')!r}")
    expect_true(info.get("history") == {"train_loss": [1.0, 0.9]}, f"the history did not survive: {info.get('history')!r}")
    if not optimizer.state:
        fail("after loading, the optimizer has no state (momentum buffers): save optimizer.state_dict() and load it "
             "back, or the resumed run diverges")
    for buffer, parameter in zip(saved_momentum, model.parameters()):
        expect_close("momentum buffer after loading", optimizer.state[parameter]["momentum_buffer"], buffer, atol=0)
    expect_true(scheduler.last_epoch == 2 and abs(optimizer.param_groups[0]["lr"] - 0.025) < 1e-12,
                f"after loading, the scheduler should be at epoch 2 with LR 0.025, got epoch {scheduler.last_epoch} and "
                f"LR {optimizer.param_groups[0]['lr']:.4g}: save and load scheduler.state_dict()")
    for _ in range(2):
        _epoch(model, optimizer, scheduler, loader)
    for index, (got, expected) in enumerate(zip(model.parameters(), straight)):
        expect_close(f"parameter {index} after 2 + resume + 2 epochs vs 4 straight epochs", got, expected, atol=1e-6,
                     hint="shuffling, dropout and the noise draw from torch, numpy and python's RNGs: save and restore "
                          "all three")


def _own_generator_loader(generator):
    """Like week 3's make_loaders: the loader shuffles with its own generator, not torch's global one."""
    data = torch.Generator().manual_seed(42)
    dataset = torch.utils.data.TensorDataset(torch.randn(48, 8, generator=data),
                                             torch.randint(0, 3, (48,), generator=data))
    return torch.utils.data.DataLoader(dataset, batch_size=12, shuffle=True, generator=generator)


@pytest.mark.points(2)
def test_resume_restores_the_loaders_own_generator(tmp_path):
    _seed_all(0)
    model, optimizer, scheduler = _parts()
    loader = _own_generator_loader(torch.Generator().manual_seed(5))
    for _ in range(4):
        _epoch(model, optimizer, scheduler, loader)
    straight = [p.detach().clone() for p in model.parameters()]

    _seed_all(0)
    model, optimizer, scheduler = _parts()
    generator = torch.Generator().manual_seed(5)
    loader = _own_generator_loader(generator)
    for _ in range(2):
        _epoch(model, optimizer, scheduler, loader)
    path = tmp_path / "run.pt"
    checkpoint.save_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler, epoch=2,
                               generators={"train": generator})
    saved_state = generator.get_state()

    # A fresh process: it builds its loader again, whose generator starts from the seed, as in epoch 1.
    model, optimizer, scheduler = _parts(seed=7)
    _seed_all(123)
    generator = torch.Generator().manual_seed(5)
    loader = _own_generator_loader(generator)
    checkpoint.load_checkpoint(path, model, optimizer, scheduler, generators={"train": generator})
    if not torch.equal(generator.get_state(), saved_state):
        fail("after loading, the training loader's own generator is back at its seed, not where the saved run left "
             "it: the resumed run would shuffle epoch 3 like epoch 1 and end with other weights. Save "
             "generator.get_state() for each of `generators` in save_checkpoint and restore it with "
             "generator.set_state() in load_checkpoint")
    for _ in range(2):
        _epoch(model, optimizer, scheduler, loader)
    for index, (got, expected) in enumerate(zip(model.parameters(), straight)):
        expect_close(f"parameter {index} after 2 + resume + 2 epochs vs 4 straight epochs (loader with its own "
                     f"generator)", got, expected, atol=0,
                     hint="bit for bit on CPU: every random state that drives the run must be in the checkpoint")


_SAVED_TO = []


def _fake_torch_save(obj, f, *args, **kwargs):
    """A torch.save that dies after writing a few bytes, like a full disk."""
    _SAVED_TO.append(f)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as handle:
            handle.write(b"partial")
    else:
        f.write(b"partial")
    raise OSError("No space left on device (simulated by the autograder)")


@pytest.mark.points(3)
def test_checkpoint_is_written_atomically(tmp_path, monkeypatch):
    model, optimizer, scheduler = _parts()
    path = tmp_path / "ckpt.pt"
    checkpoint.save_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler, epoch=1, history={})
    expect_true(sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"],
                f"after a successful save the folder should hold only ckpt.pt, got {sorted(p.name for p in tmp_path.iterdir())}")
    original = path.read_bytes()
    loaded = torch.load(path, weights_only=True)  # raises if anything but tensors and plain containers is inside
    expect_true(isinstance(loaded, dict), f"the checkpoint should be a dict, got {type(loaded).__name__}")
    monkeypatch.setattr(torch, "save", _fake_torch_save)
    _SAVED_TO.clear()
    try:
        checkpoint.save_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler, epoch=2, history={})
    except OSError:
        pass
    else:
        fail("torch.save failed midway (simulated), but save_checkpoint did not raise: call torch.save (as `torch.save`) "
             "and let the error propagate")
    if path.read_bytes() != original:
        fail("a failed save corrupted the existing checkpoint: it was written in place. Write to a temporary file in the "
             "same folder and os.replace() it over the checkpoint only once the write succeeded")
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name != "ckpt.pt")
    expect_true(not leftovers, f"the failed save left temporary files behind: {leftovers}; remove them on error")
    written = [Path(f) for f in _SAVED_TO if isinstance(f, (str, os.PathLike))]
    if written and written[0].resolve().parent != tmp_path.resolve():
        fail(f"the temporary file was written to {written[0].parent}, not next to the checkpoint ({tmp_path}): "
             "os.replace is atomic only within one filesystem, so write it in the checkpoint's own folder")


@pytest.mark.points(1)
def test_checkpoint_loads_with_weights_only(tmp_path, monkeypatch):
    model, optimizer, scheduler = _parts()
    path = tmp_path / "ckpt.pt"
    checkpoint.save_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler, epoch=3, history={})
    calls = []
    original_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return original_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    checkpoint.load_checkpoint(path, _parts(seed=3)[0])
    expect_true(calls and all(flag is True for flag in calls),
                f"load the checkpoint with torch.load(..., weights_only=True) (got weights_only={calls})")


@pytest.mark.points(2)
def test_other_architecture_names_the_keys(tmp_path):
    model, optimizer, scheduler = _parts()
    path = tmp_path / "ckpt.pt"
    checkpoint.save_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler, epoch=1, history={})
    other = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 3), nn.Linear(3, 3))
    try:
        checkpoint.load_checkpoint(path, other)
    except ValueError as error:
        message = str(error)
    else:
        fail("loading a checkpoint into another architecture should raise ValueError")
    for key in ("0.weight", "4.weight"):
        expect_true(key in message, f"the error should name the mismatched key {key!r}; it said: {message}")
