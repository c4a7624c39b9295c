"""TensorBoard scalars per epoch (loss, accuracy, learning rate), both frameworks on the same axes.

    write_history(run_dir / "tensorboard" / row_name, history)   # after training, any trainer (what compare uses)
    model.fit(..., callbacks=[keras_callback(logdir)])           # during training, Keras
    fit(..., callbacks=[TorchEpochWriter(logdir)])               # during training, week 3's PyTorch loop
    read_scalars(logdir)                                         # {"train": {"epoch_loss": [(0, 2.1), ...]}, ...}

`tensorboard --logdir reports/<run>/tensorboard` then shows every row: runs named "<row>/train" and
"<row>/validation", charts named epoch_loss, epoch_accuracy and epoch_learning_rate, x = epoch (0-based).

The layout is the one `keras.callbacks.TensorBoard` writes (Keras fixes it; the PyTorch side follows):
    <logdir>/train/       epoch_loss, epoch_accuracy, epoch_learning_rate
    <logdir>/validation/  epoch_loss, epoch_accuracy
so a Keras row and a PyTorch row land on the same charts. (Keras' callback also writes validation charts against
optimizer steps, `evaluation_loss_vs_iterations`; the history has no such axis, so PyTorch rows lack them.)

Why the comparison writes from the finished history: a row's trainer (`trainer(model, train, val, *, epochs,
learning_rate, seed, device) -> history`) takes no callbacks, and learners bring their own. Every trainer
returns the history format of AUTHORING.md, so writing from it covers every row, with identical tags and steps
for both frameworks. The framework-native writers are here for loops that take callbacks (and for watching a
long run live). Note: `torch.utils.tensorboard` loads TensorFlow when it is installed (tensorboard's file I/O
goes through `tf.io.gfile`), a few seconds once per process.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

TRAIN, VALIDATION = "train", "validation"
# history key -> (run subdirectory, tag); the tags are keras.callbacks.TensorBoard's ("epoch_" + the logs key)
HISTORY_TAGS = {
    "train_loss": (TRAIN, "epoch_loss"), "train_acc": (TRAIN, "epoch_accuracy"), "lr": (TRAIN, "epoch_learning_rate"),
    "val_loss": (VALIDATION, "epoch_loss"), "val_acc": (VALIDATION, "epoch_accuracy"),
}


class TorchEpochWriter:
    """Per-epoch scalars from a PyTorch loop through `torch.utils.tensorboard.SummaryWriter`.

    A callback for week 3's loop (`on_epoch_end(epoch, logs, state)` with history-named `logs`), or call
    `log_epoch(epoch, logs)` from any loop; `close()` (or a `with` block) flushes the files.
    """

    def __init__(self, logdir):
        self.logdir = Path(logdir)
        self._writers: dict = {}

    def log_epoch(self, epoch: int, logs: dict) -> None:
        for key, (run, tag) in HISTORY_TAGS.items():
            if logs.get(key) is not None:
                self._writer(run).add_scalar(tag, float(logs[key]), global_step=int(epoch))

    def _writer(self, run: str):
        if run not in self._writers:
            from torch.utils.tensorboard import SummaryWriter

            self._writers[run] = SummaryWriter(log_dir=str(self.logdir / run))
        return self._writers[run]

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    # week 3's callback protocol
    def on_train_begin(self, state) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict, state) -> None:
        self.log_epoch(epoch, logs)

    def on_train_end(self, state) -> None:
        self.close()

    def __enter__(self) -> "TorchEpochWriter":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def keras_callback(logdir):
    """`keras.callbacks.TensorBoard` writing epoch scalars only (no graph, histograms or profiling: small files)."""
    import keras

    return keras.callbacks.TensorBoard(log_dir=str(logdir), histogram_freq=0, write_graph=False,
                                       write_images=False, update_freq="epoch", profile_batch=0)


def write_history(logdir, history: dict) -> Path:
    """Write a finished history (AUTHORING.md's format) as TensorBoard scalars under `logdir`; returns it.

    Raises ValueError when the per-epoch lists differ in length (a broken trainer: the charts would not line up)
    or a loss or accuracy is NaN or inf (a diverged run is reported as such, not drawn). A learning-rate list
    that is not all finite numbers is left out: no chart rather than a wrong one.
    """
    values = {key: history[key] for key in HISTORY_TAGS if history.get(key) is not None}
    if "lr" in values and not _finite(values["lr"]):
        del values["lr"]
    lengths = {key: len(items) for key, items in values.items()}
    if not lengths or len(set(lengths.values())) != 1:
        raise ValueError(f"the history's per-epoch lists must all have one entry per epoch, got lengths {lengths}")
    broken = [key for key, items in values.items() if not _finite(items)]
    if broken:
        raise ValueError(f"the history holds NaN, inf or non-numbers in {', '.join(broken)}: nothing written")
    logdir = Path(logdir)
    with TorchEpochWriter(logdir) as writer:
        for epoch in range(next(iter(lengths.values()))):
            writer.log_epoch(epoch, {key: items[epoch] for key, items in values.items()})
    return logdir


def _finite(items) -> bool:
    try:
        return bool(np.all(np.isfinite(np.asarray(items, dtype=np.float64))))
    except (TypeError, ValueError):   # None or text among the numbers
        return False


def read_scalars(logdir) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """{run: {tag: [(step, value), ...]}} for the runs (train, validation, ...) under one row's `logdir`.

    Reads with tensorboard's EventAccumulator, keeping every point (its default keeps a sample). Accepts both
    encodings: PyTorch's `simple_value` scalars and the tensor summaries `tf.summary.scalar` (Keras) writes.
    """
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util

    keep_all = {event_accumulator.SCALARS: 0, event_accumulator.TENSORS: 0}
    result: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for run_dir in sorted({path.parent for path in Path(logdir).rglob("events.out.tfevents.*")}):
        accumulator = event_accumulator.EventAccumulator(str(run_dir), size_guidance=keep_all)
        accumulator.Reload()
        tags = accumulator.Tags()
        scalars = {tag: [(e.step, float(e.value)) for e in accumulator.Scalars(tag)] for tag in tags["scalars"]}
        for tag in tags["tensors"]:
            values = [(e.step, tensor_util.make_ndarray(e.tensor_proto)) for e in accumulator.Tensors(tag)]
            if values and all(value.size == 1 for _, value in values):   # scalars only (not text or images)
                scalars.setdefault(tag, []).extend((step, float(value)) for step, value in values)
        result[run_dir.relative_to(logdir).as_posix()] = {tag: sorted(points) for tag, points in scalars.items()}
    return result
