"""`workbook compare --nproc N`: a PyTorch row trained by N data-parallel processes, through torchrun's machinery.

`shared.distributed.launch` starts the ranks (torch.distributed.elastic, the engine of `torchrun`). Each rank:
- joins the process group from the environment the launcher gives it (gloo on CPU, NCCL on CUDA);
- builds the row's model with the run's seed, so every replica starts from the same weights, and wraps it in
  DistributedDataParallel before the row's own trainer builds its optimizer;
- trains on its share of every batch: the shared seeded order deals each global batch of B images out, B/N per
  rank, so N ranks take the step one process takes with batch B (BatchNorm aside: it normalises per rank);
- validates on the whole validation split, so the validation numbers are the same on every rank.
Rank 0's best weights and history come back; evaluation, timing and saving then run in this process as usual.
The history's training loss and accuracy are rank 0's share of each epoch; the report says so.

A row trains this way only when its registry entry says its trainer supports it (`data_parallel=True`): a
trainer that changes which parameters train halfway through (week 4's freeze-then-fine-tune) cannot run under
DistributedDataParallel, which fixes the set of gradients to average when it wraps the model.
"""
from __future__ import annotations

from dataclasses import dataclass

TIMEOUT_S = 6 * 3600


@dataclass
class RankJob:
    """Everything a rank needs, picklable: the model by registry name, the data, the recipe's numbers."""

    name: str
    impl: str
    dataset: object          # shared.data.DatasetSplits
    spec: object             # shared.data.InputSpec
    batch_size: int          # the global (effective) batch
    learning_rate: float
    epochs: int
    seed: int
    progress: bool


def parallel_fields(world_size: int, batch_size: int, backend: str | None) -> dict:
    """What results.json records about a row's processes (one process: world size 1)."""
    return {"world_size": world_size, "per_rank_batch": -(-batch_size // world_size), "effective_batch": batch_size,
            "backend": backend}


def supports_data_parallel(entry) -> bool:
    return bool(entry.info.get("data_parallel", False))


def train_rank(job: RankJob) -> dict:
    """Run on every rank by the launcher: train one replica; rank 0's weights and history are returned."""
    import numpy as np
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from shared.data.torch_data import make_loader
    from shared.registry import get_entry

    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world_size = dist.get_rank(), dist.get_world_size()
    device = torch.device(f"cuda:{torch.cuda.current_device()}" if cuda else "cpu")
    entry = get_entry(job.name, "torch", job.impl)
    torch.manual_seed(job.seed)
    np.random.seed(job.seed)
    model = entry.builder(num_classes=job.dataset.num_classes, input_shape=job.spec.shape).to(device)
    replica = DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    train = make_loader(job.dataset.train, batch_size=job.batch_size, train=True, spec=job.spec, seed=job.seed,
                        shard=(rank, world_size))
    val = make_loader(job.dataset.val, batch_size=job.batch_size, train=False, spec=job.spec)
    history = entry.info["trainer"](replica, train, val, epochs=job.epochs, learning_rate=job.learning_rate,
                                    seed=job.seed, device=device, progress=job.progress and rank == 0)
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    return {"history": history, "state": state, "backend": dist.get_backend()}


def train_data_parallel(spec, dataset, config, recipe, inputs, nproc: int) -> tuple[dict, dict, str]:
    """(state dict of the best weights, history, backend) from `nproc` data-parallel ranks."""
    from shared.distributed import launch

    job = RankJob(spec.name, spec.impl, dataset, inputs, recipe.batch_size, recipe.learning_rate, config.epochs,
                  config.seed, config.progress)
    result = launch(train_rank, job, nproc=nproc, timeout_s=TIMEOUT_S)
    return result["state"], result["history"], result["backend"]
