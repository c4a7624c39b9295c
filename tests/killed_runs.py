"""Small training runs for tests/test_resume_after_kill.py to kill with `kill -9` and start again.

    python -m tests.killed_runs week3 RUN_DIR      # week 3's loaders + loop.fit + checkpoint, resumes from RUN_DIR
    python -m tests.killed_runs compare ARGS...    # `workbook compare ARGS...`

Both slow their writes down so that a kill can land inside one: `torch.save` prints `saving <path>`, writes
half the file, pauses, writes the rest and pauses again before the caller's `os.replace`. Each training batch
prints `batch` and pauses, so that a kill can land mid-epoch. Neither changes a number: the pauses draw no random
numbers and the bytes written are the ones `torch.save` would write.
"""
from __future__ import annotations

import io
import sys
import time
from pathlib import Path

PAUSE_S = 0.1


def _slow_writes() -> None:
    import torch

    real_save = torch.save

    def slow_save(obj, f, *args, **kwargs):
        if not isinstance(f, (str, Path)):
            return real_save(obj, f, *args, **kwargs)
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        data = buffer.getvalue()
        print(f"saving {f}", flush=True)
        with open(f, "wb") as handle:
            handle.write(data[: len(data) // 2])
            handle.flush()
            time.sleep(PAUSE_S)
            handle.write(data[len(data) // 2:])
        time.sleep(PAUSE_S)

    torch.save = slow_save


class _SlowBatches:
    """Iterate a loader, announcing and pausing before each batch (the loader itself is untouched)."""

    def __init__(self, loader):
        self.loader = loader

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            print("batch", flush=True)
            time.sleep(PAUSE_S / 2)
            yield batch


def week3(run_dir: Path, epochs: int = 4) -> None:
    """Week 3's own pieces: augmented loaders shuffled by their generator, dropout, SGD with a per-batch OneCycle,
    a checkpoint after every epoch; resumes from RUN_DIR/run.pt and writes the final weights to RUN_DIR/final.pt."""
    import torch

    from shared.atomic import atomic_write
    from shared.data import load_dataset
    from solutions.week3.augmentation import make_loaders, make_train_transform
    from solutions.week3.checkpoint import SaveEveryEpoch, resume
    from solutions.week3.loop import fit
    from solutions.week3.regularization import RegularizedNet
    from solutions.week3.schedules import one_cycle

    torch.set_num_threads(1)
    ds = load_dataset("shapes", size=240, image_size=16, seed=0)
    torch.manual_seed(0)
    train, val, _ = make_loaders(ds, batch_size=32, transform=make_train_transform(16), seed=0)
    model = RegularizedNet(ds.num_classes, ds.image_shape, hidden=64, dropout_rate=0.3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    schedule = one_cycle(optimizer, 0.1, epochs * len(train))
    generators = {"train": train.generator}
    path = run_dir / "run.pt"
    state = resume(path, model, optimizer, schedule, generators=generators)
    print(f"start at epoch {len(state.history.get('train_loss', []))}", flush=True)
    fit(model, _SlowBatches(train), val, optimizer, epochs, schedule=schedule,
        callbacks=[SaveEveryEpoch(path, generators)], state=state)
    atomic_write(run_dir / "final.pt", lambda temporary: torch.save(model.state_dict(), temporary))
    print("done", flush=True)


def compare(argv: list[str]) -> int:
    from shared.cli import main
    from shared.data import torch_data

    real_batch = torch_data.ArrayDataset._batch

    def slow_batch(self, indices):
        print("batch", flush=True)
        time.sleep(PAUSE_S / 2)
        return real_batch(self, indices)

    torch_data.ArrayDataset._batch = slow_batch
    return main(["compare", *argv])


if __name__ == "__main__":
    _slow_writes()
    if sys.argv[1] == "week3":
        week3(Path(sys.argv[2]))
    else:
        sys.exit(compare(sys.argv[2:]))
