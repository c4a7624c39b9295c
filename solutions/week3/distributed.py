"""Week 3 · Exercise 11: Train on several processes — data parallelism with torch.distributed.

What you will learn
- How `torchrun --nproc-per-node N` starts N copies of your script and tells each one who it is through its
  environment: RANK (0 .. N-1 over all machines), LOCAL_RANK (its index on this machine: which GPU it drives),
  WORLD_SIZE (N), and MASTER_ADDR / MASTER_PORT (where the processes meet). `dist.init_process_group` reads them.
  The backend is "gloo" on CPU and "nccl" on NVIDIA GPUs.
- Data parallelism: every rank holds the whole model and trains on its own share of each batch. A
  `DistributedSampler` deals every epoch's shuffled order out in disjoint shares, and `set_epoch(epoch)` reseeds
  that shuffle: without it, every epoch repeats epoch 0's order.
- `DistributedDataParallel` (DDP) averages the gradients across ranks during `backward` (an all-reduce, bucket by
  bucket while the backward pass is still running), so every rank takes the same optimizer step and the replicas
  stay identical. With a mean loss, N ranks with per-rank batch B/N take the very step one process takes with
  batch B, up to float rounding. (BatchNorm is the exception: its batch statistics are computed per rank; use
  `nn.SyncBatchNorm.convert_sync_batchnorm` when that matters.) Build the optimizer from the wrapped model, after
  wrapping: DDP broadcasts rank 0's weights when it is built, and wrappers such as FSDP replace the parameters, so
  an optimizer built before can hold tensors the wrapper no longer trains.
- Metrics: each rank sees only its share, so add up the losses, the correct predictions and the sample counts over
  all ranks with `all_reduce` before dividing. Then every rank reports the same, global, accuracy.
- Side effects happen once: rank 0 writes checkpoints and logs (atomically), the others wait at a barrier; to
  resume, every rank loads the same checkpoint, so the replicas start equal.
- The effective batch is per-rank batch x world size, and the learning rate belongs to it: scale it linearly with
  the effective batch (Goyal et al., 2017, "Accurate, Large Minibatch SGD"), so 1, 2 or 8 processes follow one recipe.
- The same idea in Keras is `tf.distribute.MirroredStrategy` (keras_distributed.py); the lesson puts them side by side.

Run it:
    torchrun --nproc-per-node 2 -m solutions.week3.distributed --dry-run   # two processes on this machine
    python -m solutions.week3.distributed --dry-run                        # one process, the same code
On several machines: `torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29400
--rdzv-id JOB -m solutions.week3.distributed` on each (lessons/week3.ipynb explains what changes on a cluster).
Measured (this workbook's 2-core CPU, no GPU, shared with other jobs at load average 9-10, torch 2.14): the default run,
6 epochs of the week-2 CNN (widths 16, 32) on 4,000 16x16 `shapes` images, effective batch 64, SGD 0.02:
2 ranks x 1 thread reach 0.374 validation accuracy at 1.4 s per epoch; one process (batch 64, 2 threads) reaches
0.360 at 12-37 s per epoch, its two OpenMP threads stalling on the busy cores. (The accuracies differ slightly:
BatchNorm's statistics are per rank, and dropout draws differ.) Scaling, all-reduce cost and estimates for more ranks:
bench/distributed_scaling.py, bench/results/distributed_scaling.md.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from .checkpoint import load_checkpoint as load_full_checkpoint
from .checkpoint import save_checkpoint as save_full_checkpoint

CHECKPOINT_NAME, LOG_NAME = "checkpoint.pt", "log.json"


@dataclass
class DistributedConfig:
    epochs: int = 6
    per_rank_batch: int = 32   # each rank's batch; the effective batch is per_rank_batch * world_size
    base_lr: float = 0.02      # SGD learning rate tuned for `base_batch` images per step
    base_batch: int = 64       # the effective batch `base_lr` belongs to
    momentum: float = 0.9
    seed: int = 0              # the model's initial weights and the sampler's shuffle: the same on every rank


@dataclass(frozen=True)
class Context:
    """Who this process is in the group, and where it computes."""

    rank: int            # 0 .. world_size - 1, unique over all machines
    local_rank: int      # index on this machine: the GPU this rank drives
    world_size: int      # number of processes training together
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_process_group() -> Context:
    """Join the process group described by the environment torchrun sets, and return this rank's Context.

    Read RANK, LOCAL_RANK and WORLD_SIZE (strings: convert them) from `os.environ`. With CUDA available, use the
    "nccl" backend and the device `cuda:LOCAL_RANK` (also make it current with `torch.cuda.set_device`); on CPU use
    "gloo" and `torch.device("cpu")`. Then `dist.init_process_group(backend, rank=..., world_size=...)`, which
    finds MASTER_ADDR and MASTER_PORT in the environment itself.
    Example, under `torchrun --nproc-per-node 2` on a CPU machine, in the second process:
    `Context(rank=1, local_rank=1, world_size=2, device=torch.device("cpu"))`.
    """
    ### BEGIN SOLUTION
    rank, local_rank, world_size = (int(os.environ[name]) for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"))
    if torch.cuda.is_available():
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"local rank {local_rank} needs GPU {local_rank}, but this machine has "
                             f"{torch.cuda.device_count()}: start at most that many processes per node")
        device, backend = torch.device("cuda", local_rank), "nccl"
        torch.cuda.set_device(device)  # NCCL: one GPU per rank, and this one by default
    else:
        device, backend = torch.device("cpu"), "gloo"
    dist.init_process_group(backend, rank=rank, world_size=world_size)
    return Context(rank=rank, local_rank=local_rank, world_size=world_size, device=device)
    ### END SOLUTION


def cleanup_process_group() -> None:
    """Leave the process group (`dist.destroy_process_group()`), if one is open; do nothing otherwise.

    Call it in a `finally:` so a failing run still releases its sockets (and, on GPU, NCCL's communicators).
    """
    ### BEGIN SOLUTION
    if dist.is_initialized():
        dist.destroy_process_group()
    ### END SOLUTION


def effective_batch_and_lr(per_rank_batch: int, world_size: int, base_lr: float, base_batch: int) -> tuple[int, float]:
    """(effective batch, learning rate): the images per optimizer step over all ranks, and `base_lr` scaled
    linearly from `base_batch` to that effective batch.

    Example: per-rank batch 32 on 4 ranks, base_lr 0.1 at batch 64 -> (128, 0.2).
    """
    ### BEGIN SOLUTION
    effective_batch = per_rank_batch * world_size
    return effective_batch, base_lr * effective_batch / base_batch
    ### END SOLUTION


def make_loader(dataset: Dataset, batch_size: int, context: Context, *, shuffle: bool = True,
                seed: int = 0) -> DataLoader:
    """A DataLoader that gives this rank its own share of `dataset`, `batch_size` examples per batch.

    Use a `DistributedSampler(dataset, num_replicas=context.world_size, rank=context.rank, shuffle=shuffle,
    seed=seed)` as the loader's `sampler` (then the loader itself must not shuffle). Over one epoch the ranks'
    shares are disjoint and together cover the dataset (when its length is a multiple of the world size; otherwise
    the sampler repeats a few examples so that every rank gets as many).
    """
    ### BEGIN SOLUTION
    sampler = DistributedSampler(dataset, num_replicas=context.world_size, rank=context.rank, shuffle=shuffle,
                                 seed=seed)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler)
    ### END SOLUTION


def wrap_model_and_optimizer(model: nn.Module, context: Context, learning_rate: float,
                             momentum: float = 0.9) -> tuple[DistributedDataParallel, torch.optim.Optimizer]:
    """Move `model` to `context.device`, wrap it in DistributedDataParallel, then build SGD on the wrapped model.

    Returns (ddp_model, optimizer), with `torch.optim.SGD(ddp_model.parameters(), lr=learning_rate,
    momentum=momentum)`. On a GPU pass `device_ids=[context.device.index]` to DDP; on CPU pass no device_ids.
    Train and evaluate through `ddp_model`: its backward is what averages the gradients across ranks.
    """
    ### BEGIN SOLUTION
    model = model.to(context.device)
    device_ids = [context.device.index] if context.device.type == "cuda" else None
    ddp_model = DistributedDataParallel(model, device_ids=device_ids)
    optimizer = torch.optim.SGD(ddp_model.parameters(), lr=learning_rate, momentum=momentum)
    return ddp_model, optimizer
    ### END SOLUTION


def global_metrics(loss_sum: float, correct: float, count: float, context: Context) -> tuple[float, float]:
    """(mean loss, accuracy) over all ranks, from this rank's sums: the sum of per-example losses, the number of
    correct predictions and the number of examples it saw.

    Put the three numbers in one float64 tensor on `context.device`, `dist.all_reduce` it (a sum over ranks, in
    place), then divide. Every rank gets the same two numbers back.
    Example: rank 0 saw (loss_sum 6.0, 30 correct of 40), rank 1 (2.0, 10 of 40) -> (0.1, 0.5) on both ranks.
    """
    ### BEGIN SOLUTION
    totals = torch.tensor([loss_sum, correct, count], dtype=torch.float64, device=context.device)
    dist.all_reduce(totals)  # default op: SUM over every rank
    loss_sum, correct, count = totals.tolist()
    return loss_sum / count, correct / count
    ### END SOLUTION


def train_one_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, context: Context,
                    epoch: int) -> tuple[float, float]:
    """One epoch of this rank's share; returns the (mean loss, accuracy) of the epoch over *all* ranks.

    First `loader.sampler.set_epoch(epoch)`, so that this epoch gets its own shuffle. Then the usual loop on
    `context.device`: forward through the DDP model, `nn.functional.cross_entropy` (the mean over this rank's
    batch), zero_grad, backward, step; keep the sums `global_metrics` needs (loss x batch size, correct, count),
    measured on each batch before its step.
    """
    ### BEGIN SOLUTION
    loader.sampler.set_epoch(epoch)
    model.train()
    loss_sum = correct = count = 0.0
    for images, labels in loader:
        images, labels = images.to(context.device), labels.to(context.device)
        logits = model(images)                                 # (B, num_classes), B = this rank's batch
        loss = nn.functional.cross_entropy(logits, labels)     # mean over B; DDP averages it over the ranks
        optimizer.zero_grad(set_to_none=True)
        loss.backward()                                        # the gradient all-reduce happens in here
        optimizer.step()
        loss_sum += loss.item() * len(labels)
        correct += (logits.argmax(dim=1) == labels).sum().item()
        count += len(labels)
    return global_metrics(loss_sum, correct, count, context)
    ### END SOLUTION


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, context: Context) -> tuple[float, float]:
    """(mean loss, accuracy) of `model` on the loader's data over all ranks, in eval mode, without gradients."""
    ### BEGIN SOLUTION
    model.eval()
    loss_sum = correct = count = 0.0
    for images, labels in loader:
        images, labels = images.to(context.device), labels.to(context.device)
        logits = model(images)
        loss_sum += nn.functional.cross_entropy(logits, labels, reduction="sum").item()
        correct += (logits.argmax(dim=1) == labels).sum().item()
        count += len(labels)
    return global_metrics(loss_sum, correct, count, context)
    ### END SOLUTION


def save_checkpoint(path: str | Path, model: DistributedDataParallel, optimizer: torch.optim.Optimizer, epoch: int,
                    history: dict, context: Context) -> None:
    """Rank 0 writes the checkpoint; every rank then waits at `dist.barrier()` until it is complete.

    On rank 0, save the *unwrapped* model (`model.module`: its keys have no "module." prefix, so the file loads
    without DDP) with this week's atomic `save_full_checkpoint(path, model=..., optimizer=..., epoch=...,
    history=...)` (checkpoint.py). Every rank, rank 0 included, must reach the barrier: a barrier inside
    `if rank == 0:` waits for ranks that never come.
    """
    ### BEGIN SOLUTION
    if context.is_main:
        save_full_checkpoint(path, model=model.module, optimizer=optimizer, epoch=epoch, history=history)
    dist.barrier()  # nobody reads the file (or finishes) before rank 0 has written all of it
    ### END SOLUTION


def load_checkpoint(path: str | Path, model: DistributedDataParallel, optimizer: torch.optim.Optimizer,
                    context: Context) -> tuple[int, dict]:
    """Every rank loads the same checkpoint into `model.module` and `optimizer`; returns (epoch, history).

    Use this week's `load_full_checkpoint(path, model.module, optimizer, restore_rng=False)` (checkpoint.py, which
    loads with `weights_only=True`): the random generators stay each rank's own.
    """
    ### BEGIN SOLUTION
    info = load_full_checkpoint(path, model.module, optimizer, restore_rng=False)
    return info["epoch"], info["history"]
    ### END SOLUTION


def write_log(path: str | Path, record: dict, context: Context) -> None:
    """Rank 0 writes `record` as JSON to `path`, atomically (a temporary file in the same folder, then
    `os.replace`; the temporary file removed if anything fails); the other ranks write nothing."""
    ### BEGIN SOLUTION
    if not context.is_main:
        return
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            json.dump(record, file, indent=2)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    ### END SOLUTION


def _same_on_every_rank(flag: bool, context: Context, what: str) -> bool:
    """`flag` if all ranks agree on it; a clear error if they don't (e.g. a checkpoint on one node's disk only)."""
    flags = torch.tensor([float(flag), -float(flag)], device=context.device)
    dist.all_reduce(flags, op=dist.ReduceOp.MAX)  # (any rank True, any rank False) in one call
    if flags[0] == 1 and flags[1] == 0:
        raise RuntimeError(f"{what} differs between ranks: put it on storage that every node can read")
    return flag


def train(config: DistributedConfig, train_set: Dataset, val_set: Dataset, model: nn.Module, context: Context,
          workdir: str | Path) -> dict:
    """Train `model` data-parallel on every rank; resume from `workdir`/checkpoint.pt when it exists.

    Every rank calls this with the same arguments and gets the same history back (per-epoch lists train_loss,
    train_acc, val_loss, val_acc, epoch_time_s, plus best_epoch). Rank 0 writes checkpoint.pt and log.json
    (the recipe, with the effective batch and learning rate, and the history) after each epoch.
    """
    workdir = Path(workdir)
    effective_batch, learning_rate = effective_batch_and_lr(config.per_rank_batch, context.world_size,
                                                            config.base_lr, config.base_batch)
    recipe = {"world_size": context.world_size, "per_rank_batch": config.per_rank_batch,
              "effective_batch": effective_batch, "learning_rate": learning_rate, "momentum": config.momentum}
    if context.is_main:
        print(f"{context.world_size} rank(s) x {config.per_rank_batch} images = effective batch {effective_batch}; "
              f"learning rate {learning_rate:.4g} ({config.base_lr:g} at batch {config.base_batch}, scaled linearly)")
    train_loader = make_loader(train_set, config.per_rank_batch, context, shuffle=True, seed=config.seed)
    val_loader = make_loader(val_set, config.per_rank_batch, context, shuffle=False)
    model, optimizer = wrap_model_and_optimizer(model, context, learning_rate, config.momentum)
    history = {"train_loss": [], "train_acc": [], "val_loss": [], "val_acc": [], "epoch_time_s": []}
    start, checkpoint = 0, workdir / CHECKPOINT_NAME
    if _same_on_every_rank(checkpoint.exists(), context, f"whether {checkpoint} exists"):
        start, history = load_checkpoint(checkpoint, model, optimizer, context)
        if context.is_main:
            print(f"resumed from {checkpoint} after epoch {start}")
    for epoch in range(start, config.epochs):
        began = time.perf_counter()
        train_loss, train_acc = train_one_epoch(model, train_loader, optimizer, context, epoch)
        val_loss, val_acc = evaluate(model, val_loader, context)
        for key, value in (("train_loss", train_loss), ("train_acc", train_acc), ("val_loss", val_loss),
                           ("val_acc", val_acc), ("epoch_time_s", time.perf_counter() - began)):
            history[key].append(value)
        history["best_epoch"] = max(range(len(history["val_acc"])), key=history["val_acc"].__getitem__)
        save_checkpoint(checkpoint, model, optimizer, epoch + 1, history, context)
        write_log(workdir / LOG_NAME, {"recipe": recipe, "history": history}, context)
        if context.is_main:
            print(f"epoch {epoch + 1}/{config.epochs}: train loss {train_loss:.3f} acc {train_acc:.3f} | "
                  f"val loss {val_loss:.3f} acc {val_acc:.3f} | {history['epoch_time_s'][-1]:.1f} s")
    return history


def _shared_workdir(requested: str | None, context: Context) -> tuple[Path, bool]:
    """The run's folder, the same on every rank: `requested`, or a temporary folder rank 0 makes (and deletes)."""
    if requested:
        Path(requested).mkdir(parents=True, exist_ok=True)
        return Path(requested), False
    name = [tempfile.mkdtemp(prefix="workbook-ddp-") if context.is_main else None]
    dist.broadcast_object_list(name, src=0)  # every rank learns rank 0's folder
    return Path(name[0]), True


def main(argv: list[str] | None = None) -> None:
    from shared.data import load_dataset
    from shared.data.torch_data import ArrayDataset
    from shared.distributed import single_process_environment
    from solutions.week2.cnn import CNN

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=DistributedConfig.epochs)
    parser.add_argument("--per-rank-batch", type=int, default=DistributedConfig.per_rank_batch)
    parser.add_argument("--size", type=int, default=5000, help="shapes images generated in total")
    parser.add_argument("--workdir", default=None, help="where to write (and resume from); default: a temporary folder")
    parser.add_argument("--dry-run", action="store_true", help="1 epoch on 256 images, to check that it runs")
    args = parser.parse_args(argv)
    epochs, size = (1, 256) if args.dry_run else (args.epochs, args.size)
    if "RANK" not in os.environ:
        print("not started by torchrun: running as a world of one process")
        os.environ.update(single_process_environment())
    context = setup_process_group()
    try:
        config = DistributedConfig(epochs=epochs, per_rank_batch=args.per_rank_batch)
        data = load_dataset("shapes", size=size, image_size=16, seed=config.seed, progress=False)
        train_set = ArrayDataset(data.train, mean=data.mean, std=data.std)
        val_set = ArrayDataset(data.val, mean=data.mean, std=data.std)
        torch.manual_seed(config.seed)  # the same initial weights everywhere (DDP would broadcast rank 0's anyway)
        model = CNN(len(data.class_names), (16, 16, 3), widths=(16, 32), hidden_units=64)
        workdir, temporary = _shared_workdir(args.workdir, context)
        history = train(config, train_set, val_set, model, context, workdir)
        dist.barrier()  # every rank is done with the folder
        if temporary and context.is_main:
            shutil.rmtree(workdir, ignore_errors=True)
        if context.is_main:
            print(f"rank 0 of {context.world_size} on {context.device}: final val acc {history['val_acc'][-1]:.3f}")
    finally:
        cleanup_process_group()


if __name__ == "__main__":
    main()
