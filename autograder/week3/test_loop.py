"""Week 3 · loop.py: schedulers stepped at the right granularity, augmentation on training batches only, callbacks."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from shared.grading.checks import close, expect_close, expect_finite, expect_true, fail
from shared.grading.target import exercise

loop = exercise("week3", "loop")
schedules = exercise("week3", "schedules")

STEPS_PER_EPOCH = 4


def _loader(n=32, batch_size=8, seed=0):
    generator = torch.Generator().manual_seed(seed)
    images, labels = torch.randn(n, 6, generator=generator), torch.randint(0, 3, (n,), generator=generator)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels), batch_size=batch_size)


def _setup(lr=0.1):
    torch.manual_seed(0)
    model = nn.Linear(6, 3)
    return model, torch.optim.SGD(model.parameters(), lr=lr)


class Schedule:
    def __init__(self, scheduler, interval):
        self.scheduler, self.interval = scheduler, interval


@pytest.mark.points(2)
def test_one_clean_step_per_batch():
    model, optimizer = _setup()
    start = copy.deepcopy(model.state_dict())
    history = loop.fit(model, _loader(), _loader(seed=1), optimizer, epochs=1)

    def reference(zero_grad: bool) -> torch.Tensor:
        twin = nn.Linear(6, 3)
        twin.load_state_dict(start)
        sgd = torch.optim.SGD(twin.parameters(), lr=0.1)
        for images, labels in _loader():
            if zero_grad:
                sgd.zero_grad()
            nn.functional.cross_entropy(twin(images), labels).backward()
            sgd.step()
        return twin.weight.detach()

    got = model.weight.detach()
    if close(got, reference(zero_grad=False), atol=1e-6):
        fail("the weights after one epoch match SGD steps whose gradients pile up: call optimizer.zero_grad() "
             "before each loss.backward() (.backward() adds to .grad).")
    expect_close("weights after one epoch (4 batches, SGD lr=0.1)", got, reference(zero_grad=True), atol=1e-5,
                 hint="one step per batch: zero_grad, forward, loss (cross-entropy on float32 logits), backward, "
                      "step.")
    expect_finite("history['train_loss']", history.get("train_loss", [float("nan")]))


@pytest.mark.points(2)
def test_per_epoch_schedule_steps_once_per_epoch():
    model, optimizer = _setup()
    schedule = Schedule(torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5), "epoch")
    history = loop.fit(model, _loader(), _loader(seed=1), optimizer, epochs=3, schedule=schedule)
    lr = optimizer.param_groups[0]["lr"]
    if abs(lr - 0.1 * 0.5 ** 3) > 1e-9:
        steps = round(torch.log2(torch.tensor(0.1 / lr)).item()) if lr > 0 else "many"
        fail(f"after 3 epochs a per-epoch StepLR(gamma=0.5) should have stepped 3 times (LR 0.0125), but the LR is "
             f"{lr:.3g} ({steps} steps): a per-epoch scheduler was stepped per batch"
             + (" or not at all" if steps == 0 else ""))
    expect_close("history['lr'] (the LR each epoch ran with)", history.get("lr", []), [0.1, 0.05, 0.025], atol=1e-9)


@pytest.mark.points(2)
def test_per_batch_schedule_steps_every_batch():
    model, optimizer = _setup()
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=3 * STEPS_PER_EPOCH)
    try:
        loop.fit(model, _loader(), _loader(seed=1), optimizer, epochs=3, schedule=Schedule(scheduler, "batch"))
    except ValueError as error:
        if "total steps" in str(error).lower() or "tried to step" in str(error).lower():
            fail(f"OneCycleLR raised {error!r}: it was stepped more often than once per batch")
        raise
    expect_true(scheduler.last_epoch == 3 * STEPS_PER_EPOCH,
                f"a per-batch schedule should step once per optimizer step: 3 epochs x {STEPS_PER_EPOCH} batches = "
                f"{3 * STEPS_PER_EPOCH} steps, but it stepped {scheduler.last_epoch} times"
                + (" (once per epoch: a per-batch scheduler stepped per epoch)" if scheduler.last_epoch == 3 else ""))


@pytest.mark.points(2)
def test_augmentation_only_on_training_batches():
    seen = []

    class Recorder(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(6, 3)

        def forward(self, x):
            seen.append((self.training, bool((x == 1000.0).all())))
            return self.linear(x)

    model = Recorder()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    loop.fit(model, _loader(), _loader(seed=1), optimizer, epochs=1, augment=lambda x: torch.full_like(x, 1000.0))
    train_calls = [marked for training, marked in seen if training]
    eval_calls = [marked for training, marked in seen if not training]
    expect_true(train_calls and all(train_calls), "`augment` must be applied to every training batch")
    expect_true(eval_calls, "fit should evaluate on the validation loader each epoch (in eval mode)")
    expect_true(not any(eval_calls), "augmentation leaked into validation: evaluation batches must be left as they are")


@pytest.mark.points(2)
def test_fit_calls_callbacks_and_stops():
    events = []

    class Spy:
        def on_train_begin(self, state):
            events.append("begin")

        def on_epoch_end(self, epoch, logs, state):
            events.append(epoch)
            for key in ("train_loss", "val_loss", "val_acc"):
                if key not in logs:
                    fail(f"on_epoch_end's logs should hold {key!r}, got keys {sorted(logs)}")
            if epoch == 1:
                state.stop_training = True

        def on_train_end(self, state):
            events.append("end")

    model, optimizer = _setup()
    history = loop.fit(model, _loader(), _loader(seed=1), optimizer, epochs=5, callbacks=[Spy()])
    expect_true(events == ["begin", 0, 1, "end"],
                f"expected on_train_begin, on_epoch_end for epochs 0 and 1, then on_train_end after a callback set "
                f"state.stop_training at epoch 1; got the call sequence {events}")
    expect_true(len(history.get("train_loss", [])) == 2, f"the history should have 2 epochs, got {len(history.get('train_loss', []))}")
    for key in ("val_loss", "val_acc", "train_acc", "epoch_time_s", "lr"):
        expect_true(len(history.get(key, [])) == 2, f"history[{key!r}] should hold one value per epoch")
