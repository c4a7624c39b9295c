# Mutant of solutions/week3/schedules.py: step decay declared per batch.
# expect: interval|epoch
"""Week 3 · Exercise 1: Learning-rate schedules and the learning-rate range test (LR finder).

What you will learn
- Three schedules and the granularity each steps at: step decay (per epoch), cosine with linear warmup and
  OneCycle (per batch). A `Schedule` carries the scheduler *and* its interval, so the loop cannot get it wrong.
- How to draw a schedule against the optimizer step before spending compute on it (`lr_curve`).
- The LR range test: raise the LR exponentially for a few dozen batches, plot loss against LR, and pick a value
  about ten times below the one with the lowest loss, where the loss is still falling fast.

Keras does this with `keras.optimizers.schedules` (a schedule object passed as the optimizer's learning rate,
evaluated per optimizer step) or a `keras.callbacks.LearningRateScheduler` (per epoch); see `keras_twins.py`.

Run it: `python -m solutions.week3.schedules` saves the schedule and LR-finder plots to reports/week3/.
"""
from __future__ import annotations

import argparse
import copy
import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

BATCH, EPOCH = "batch", "epoch"


@dataclass
class Schedule:
    scheduler: torch.optim.lr_scheduler.LRScheduler
    interval: str              # "batch": step after every optimizer step; "epoch": once per epoch


def step_decay(optimizer: torch.optim.Optimizer, step_size: int, gamma: float = 0.1) -> Schedule:
    """Multiply the LR by `gamma` every `step_size` epochs (a per-epoch schedule)."""
    return Schedule(torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma), BATCH)


def cosine_with_warmup(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int,
                       min_lr_ratio: float = 0.0) -> Schedule:
    """Per-batch schedule: linear warmup from ~0 to the optimizer's LR over `warmup_steps` optimizer steps, then a
    half cosine down to `min_lr_ratio` x that LR at `total_steps`.

    Hint: `torch.optim.lr_scheduler.LambdaLR(optimizer, factor)` where `factor(step)` multiplies the base LR;
    during warmup use (step + 1) / warmup_steps so the first step does not run at LR 0.
    """
    if warmup_steps >= total_steps:
        raise ValueError(f"warmup_steps ({warmup_steps}) must be smaller than total_steps ({total_steps})")
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return Schedule(torch.optim.lr_scheduler.LambdaLR(optimizer, factor), BATCH)


def one_cycle(optimizer: torch.optim.Optimizer, max_lr: float, total_steps: int, pct_start: float = 0.25) -> Schedule:
    """Per-batch OneCycle: warm up to `max_lr` over `pct_start` of `total_steps`, then anneal to far below it."""
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total_steps,
                                                    pct_start=pct_start)
    return Schedule(scheduler, BATCH)


def lr_curve(make_schedule, epochs: int, steps_per_epoch: int, base_lr: float = 0.1) -> list[float]:
    """The LR at each optimizer step over a whole run, without training anything.

    `make_schedule(optimizer)` builds a `Schedule`; this steps it at its own interval and returns
    `epochs * steps_per_epoch` values, ready to plot against the step.
    """
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=base_lr)
    schedule = make_schedule(optimizer)
    lrs = []
    for _ in range(epochs):
        for _ in range(steps_per_epoch):
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            if schedule.interval == BATCH:
                schedule.scheduler.step()
        if schedule.interval == EPOCH:
            schedule.scheduler.step()
    return lrs


@dataclass
class LRFinderResult:
    lrs: list[float]           # the LR of each step, increasing geometrically
    losses: list[float]        # the smoothed training loss after each step
    suggestion: float          # a learning rate to start from


def lr_range_test(model: nn.Module, loader, optimizer: torch.optim.Optimizer, loss_fn=None, start_lr: float = 1e-6,
                  end_lr: float = 1.0, num_steps: int = 50, smoothing: float = 0.9,
                  diverge_factor: float = 4.0) -> LRFinderResult:
    """The LR range test (Smith 2017; fastai's `lr_find`).

    For step i of `num_steps`, set the LR to start_lr * (end_lr / start_lr) ** (i / (num_steps - 1)), train on one
    batch (cycling through `loader`), and record an exponential moving average of the loss (`smoothing`, with
    bias correction). Stop early once the smoothed loss exceeds `diverge_factor` x the lowest seen. Suggest the LR
    at the lowest smoothed loss divided by 10. The model and optimizer are restored to their initial state
    afterwards: the test must not leave a half-trained model behind.
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    saved_model, saved_optimizer = copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())
    model.train()
    lrs, losses, average, best = [], [], 0.0, math.inf
    batches = itertools.cycle(loader)
    for step in range(num_steps):
        lr = start_lr * (end_lr / start_lr) ** (step / max(1, num_steps - 1))
        for group in optimizer.param_groups:
            group["lr"] = lr
        images, labels = next(batches)
        loss = loss_fn(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        average = smoothing * average + (1 - smoothing) * loss.item()
        smoothed = average / (1 - smoothing ** (step + 1))
        if not math.isfinite(smoothed):
            break
        lrs.append(lr)
        losses.append(smoothed)
        best = min(best, smoothed)
        if smoothed > diverge_factor * best:
            break
    model.load_state_dict(saved_model)
    optimizer.load_state_dict(saved_optimizer)
    if not losses:
        raise ValueError("the loss was NaN from the first step: lower start_lr or check the data")
    suggestion = lrs[min(range(len(losses)), key=losses.__getitem__)] / 10
    return LRFinderResult(lrs, losses, max(suggestion, start_lr))


def plot_schedules(curves: dict[str, list[float]], ax=None):
    """One line per schedule, LR against optimizer step."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    for name, lrs in curves.items():
        ax.plot(range(len(lrs)), lrs, label=name)
    ax.set(xlabel="optimizer step", ylabel="learning rate", title="Learning-rate schedules")
    ax.legend()
    return ax


def plot_lr_finder(result: LRFinderResult, ax=None):
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    ax.plot(result.lrs, result.losses)
    ax.axvline(result.suggestion, color="tab:red", linestyle="--", label=f"suggestion {result.suggestion:.2g}")
    ax.set(xscale="log", xlabel="learning rate", ylabel="smoothed training loss", title="LR range test")
    ax.legend()
    return ax


def main(argv: list[str] | None = None) -> None:
    from shared.data import load_dataset
    from shared.plots import save_figure

    from .augmentation import make_loaders
    from .regularization import RegularizedNet

    parser = argparse.ArgumentParser(description="Plot three schedules and run the LR finder.")
    parser.add_argument("--out", default="reports/week3", help="folder for schedules.png and lr_finder.png")
    parser.add_argument("--dry-run", action="store_true", help="a shorter LR range test on fewer images")
    args = parser.parse_args(argv)
    out = Path(args.out)
    epochs, steps = 10, 50
    curves = {
        "step decay (per epoch)": lr_curve(lambda o: step_decay(o, step_size=3, gamma=0.3), epochs, steps),
        "cosine + warmup (per batch)": lr_curve(lambda o: cosine_with_warmup(o, epochs * steps, 50), epochs, steps),
        "OneCycle (per batch)": lr_curve(lambda o: one_cycle(o, 0.1, epochs * steps), epochs, steps),
    }
    save_figure(plot_schedules(curves).figure, out / "schedules.png")
    ds = load_dataset("shapes", size=300 if args.dry_run else 1000, image_size=16, seed=0)
    train, _, _ = make_loaders(ds, batch_size=32)
    model = RegularizedNet(ds.num_classes, ds.image_shape, hidden=128)
    result = lr_range_test(model, train, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                           num_steps=20 if args.dry_run else 80)
    save_figure(plot_lr_finder(result).figure, out / "lr_finder.png")
    print(f"suggested LR {result.suggestion:.3g}; plots in {out}")


if __name__ == "__main__":
    main()
