"""Week 3 · distributed.py, graded on two real ranks: like one process with the whole batch; disjoint shares and a
new order every epoch; global metrics; rank 0 alone writes; every rank resumes from the same checkpoint; the
process group is set up from torchrun's environment and torn down.

The ranks are started once for the whole file by torch.distributed.elastic, the machinery behind `torchrun`
(shared/distributed.py), on the CPU with the gloo backend. Each rank runs the phases below in order, each in a
fresh process group so that a phase that fails cannot poison the next one, and saves what it saw; each test reads
its phase. A rank that hangs is killed with the whole launch after LAUNCH_BUDGET_S, and the tests of the phase it
hung in say which rank and where.
"""
from __future__ import annotations

import datetime
import json
import os
import sys
import time
import traceback
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from shared.distributed import LaunchError, LaunchTimeout, launch
from shared.grading.checks import expect_close, expect_true, fail
from shared.grading.target import exercise

distributed = exercise("week3", "distributed")

WORLD_SIZE = 2
GLOBAL_BATCH = 8                              # one process's batch ...
PER_RANK_BATCH = GLOBAL_BATCH // WORLD_SIZE   # ... split over the two ranks
TRAIN_SIZE, VAL_SIZE = 48, 16                 # multiples of the world size: the sampler pads nothing
STEPS = TRAIN_SIZE // GLOBAL_BATCH            # optimizer steps per epoch
LEARNING_RATE, MOMENTUM, SEED = 0.1, 0.9, 3
LAUNCH_BUDGET_S = 60        # the whole launch; a healthy one takes a few seconds
COLLECTIVE_TIMEOUT_S = 15   # a collective that the other rank never joins fails after this
SLOW_SAVE_S = 0.3           # rank 0's torch.save is slowed down by this much, to catch a missing barrier
PHASES = {                  # what each phase exercises, in the order the ranks run them
    "shares": "make_loader",
    "epochs": "train_one_epoch over two epochs",
    "metrics": "global_metrics and evaluate",
    "step": "wrap_model_and_optimizer + make_loader + train_one_epoch",
    "writes": "save_checkpoint, write_log and load_checkpoint",
    "resume": "train, then train again to resume",
    "group": "setup_process_group and cleanup_process_group",
}


# ---- shared by both sides: data, model and the one-process reference ------------------------------------------------

def _dataset(count: int, seed: int) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(count, 3, 4, 4, generator=generator),
                         torch.randint(0, 3, (count,), generator=generator))


def _train_set() -> TensorDataset:
    return _dataset(TRAIN_SIZE, 0)


def _val_set() -> TensorDataset:
    return _dataset(VAL_SIZE, 1)


def _model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(48, 16), nn.Tanh(), nn.Linear(16, 3))  # no BatchNorm: exact equality


def _one_process(epochs: int) -> tuple[list[dict], list[tuple[float, float]]]:
    """One process, batch GLOBAL_BATCH, the same shuffle: the weights and (loss, accuracy) after each epoch."""
    dataset, model = _train_set(), _model(SEED)
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    sampler = DistributedSampler(dataset, num_replicas=1, rank=0, shuffle=True, seed=SEED)
    loader = DataLoader(dataset, batch_size=GLOBAL_BATCH, sampler=sampler)
    weights, metrics = [], []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        loss_sum = correct = 0.0
        for images, labels in loader:
            logits = model(images)
            loss = nn.functional.cross_entropy(logits, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(labels)
            correct += (logits.argmax(1) == labels).sum().item()
        weights.append({key: value.clone() for key, value in model.state_dict().items()})
        metrics.append((loss_sum / TRAIN_SIZE, correct / TRAIN_SIZE))
    return weights, metrics


# ---- the ranks' side ----------------------------------------------------------------------------------------------

class _Seen:
    """Which examples (by index in `dataset`) a model's forward passes receive, batch by batch."""

    def __init__(self, dataset: TensorDataset):
        self.index = {row.numpy().tobytes(): i for i, row in enumerate(dataset.tensors[0])}
        self.batches: list[list[int]] = []

    def lookup(self, images: torch.Tensor) -> list[int]:
        return [self.index.get(row.detach().cpu().contiguous().numpy().tobytes(), -1) for row in images]

    def __call__(self, module, inputs):  # a forward pre-hook
        self.batches.append(self.lookup(inputs[0]))


class _WriteAudit:
    """Files created, written, renamed or removed under `root` while recording, seen through Python's audit hooks
    (every `open`, `os.open`, `os.replace`, `os.remove`) and a spy on torch.save (whose zip writer opens in C++)."""

    WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def __init__(self):
        self.root: str | None = None
        self.events: list[tuple[str, str]] = []

    def __call__(self, event: str, args: tuple) -> None:
        if self.root is None:
            return
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                mode is None and isinstance(flags, int) and flags & self.WRITE_FLAGS)
            if writing:
                self._note("open for writing", path)
        elif event in ("os.rename", "os.remove", "os.rmdir"):
            self._note(event.removeprefix("os."), args[1] if event == "os.rename" else args[0])

    def _note(self, what: str, path) -> None:
        if isinstance(path, (str, bytes, os.PathLike)):
            path = os.path.abspath(os.fsdecode(path))
            if path.startswith(self.root):
                self.events.append((what, os.path.relpath(path, self.root)))

    @contextmanager
    def recording(self, root: Path, slow_save_s: float = 0.0):
        original_save = torch.save

        def spy_save(obj, f, *args, **kwargs):
            self._note("torch.save", f if isinstance(f, (str, os.PathLike)) else getattr(f, "name", None))
            time.sleep(slow_save_s)
            return original_save(obj, f, *args, **kwargs)

        self.root, self.events, torch.save = str(Path(root).resolve()), [], spy_save
        try:
            yield self
        finally:
            self.root, torch.save = None, original_save


@contextmanager
def _construction_order(events: list[str]):
    """Note when a DistributedDataParallel has been built and when an optimizer starts being built."""
    ddp_init, optimizer_init = DistributedDataParallel.__init__, torch.optim.Optimizer.__init__

    def built_ddp(self, *args, **kwargs):
        ddp_init(self, *args, **kwargs)
        events.append("ddp")

    def building_optimizer(self, *args, **kwargs):
        events.append("optimizer")
        optimizer_init(self, *args, **kwargs)

    DistributedDataParallel.__init__, torch.optim.Optimizer.__init__ = built_ddp, building_optimizer
    try:
        yield
    finally:
        DistributedDataParallel.__init__, torch.optim.Optimizer.__init__ = ddp_init, optimizer_init


@contextmanager
def _torch_load_calls(calls: list):
    original = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return original(*args, **kwargs)

    torch.load = spy
    try:
        yield
    finally:
        torch.load = original


def _harness_loader(dataset, rank: int, shuffle: bool = True) -> DataLoader:
    sampler = DistributedSampler(dataset, num_replicas=WORLD_SIZE, rank=rank, shuffle=shuffle, seed=SEED)
    return DataLoader(dataset, batch_size=PER_RANK_BATCH, sampler=sampler)


def _context(rank: int):
    return distributed.Context(rank=rank, local_rank=rank, world_size=WORLD_SIZE, device=torch.device("cpu"))


def _weights(model: nn.Module) -> dict:
    model = model.module if isinstance(model, DistributedDataParallel) else model
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


def _shared_folder(directory: Path, name: str, rank: int) -> Path:
    folder = directory / name
    if rank == 0:
        folder.mkdir()
    dist.barrier()
    return folder


def _phase_shares(rank, directory, audit):
    loader = distributed.make_loader(_train_set(), PER_RANK_BATCH, _context(rank), shuffle=True, seed=SEED)
    seen = _Seen(_train_set())
    return {"batches": [seen.lookup(images) for images, _ in loader]}


def _phase_epochs(rank, directory, audit):
    model = DistributedDataParallel(_model(SEED))
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    loader, seen = _harness_loader(_train_set(), rank), _Seen(_train_set())
    model.module.register_forward_pre_hook(seen)
    orders, metrics, weights = [], [], []
    for epoch in range(2):
        seen.batches = []
        metrics.append([float(x) for x in distributed.train_one_epoch(model, loader, optimizer, _context(rank), epoch)])
        orders.append([i for batch in seen.batches for i in batch])
        weights.append(_weights(model))
    return {"orders": orders, "metrics": metrics, "weights": weights}


def _phase_metrics(rank, directory, audit):
    sums = [(6.0, 30.0, 40.0), (2.0, 10.0, 40.0)][rank]
    reduced = distributed.global_metrics(*sums, _context(rank))
    model = DistributedDataParallel(_model(SEED))
    evaluated = distributed.evaluate(model, _harness_loader(_val_set(), rank, shuffle=False), _context(rank))
    return {"reduced": [float(x) for x in reduced], "evaluated": [float(x) for x in evaluated]}


def _phase_step(rank, directory, audit):
    events: list[str] = []
    with _construction_order(events):
        model, optimizer = distributed.wrap_model_and_optimizer(_model(SEED), _context(rank), LEARNING_RATE, MOMENTUM)
    optimized = {id(p) for group in optimizer.param_groups for p in group["params"]}
    seen = _Seen(_train_set())
    (model.module if isinstance(model, DistributedDataParallel) else model).register_forward_pre_hook(seen)
    loader = distributed.make_loader(_train_set(), PER_RANK_BATCH, _context(rank), shuffle=True, seed=SEED)
    distributed.train_one_epoch(model, loader, optimizer, _context(rank), 0)
    return {"wrapped": type(model).__name__, "events": events, "seen": seen.batches, "weights": _weights(model),
            "optimizer_holds_the_model": optimized == {id(p) for p in model.parameters()}}


def _phase_writes(rank, directory, audit):
    context, folder = _context(rank), _shared_folder(directory, "writes", rank)
    model = DistributedDataParallel(_model(SEED))
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    images, labels = _train_set().tensors
    nn.functional.cross_entropy(model(images[:4]), labels[:4]).backward()
    optimizer.step()  # now there are momentum buffers to save
    history, record = {"train_loss": [1.5]}, {"recipe": {"world_size": WORLD_SIZE}, "history": {"train_loss": [1.5]}}
    with audit.recording(folder, slow_save_s=SLOW_SAVE_S if rank == 0 else 0.0):
        distributed.save_checkpoint(folder / "checkpoint.pt", model, optimizer, 1, history, context)
        complete_after_save = (folder / "checkpoint.pt").exists()
        distributed.write_log(folder / "log.json", record, context)
        writes = list(audit.events)
    dist.barrier()
    saved, momentum = _weights(model), [optimizer.state[p]["momentum_buffer"].clone() for p in model.parameters()]
    fresh = DistributedDataParallel(_model(100))
    with torch.no_grad():
        for parameter in fresh.parameters():
            parameter.add_(rank + 1.0)  # each rank starts from other weights
    fresh_optimizer = torch.optim.SGD(fresh.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    loads: list = []
    with _torch_load_calls(loads):
        epoch, loaded_history = distributed.load_checkpoint(folder / "checkpoint.pt", fresh, fresh_optimizer, context)
    restored = [fresh_optimizer.state.get(p, {}).get("momentum_buffer") for p in fresh.parameters()]
    return {"writes": writes, "complete_after_save": complete_after_save, "record": record,
            "weights_error": max((a - b).abs().max().item() for a, b in zip(_weights(fresh).values(), saved.values())),
            "momentum_error": None if any(r is None for r in restored) else
            max((a - b).abs().max().item() for a, b in zip(restored, momentum)),
            "epoch": int(epoch), "history": loaded_history, "loads": loads}


def _phase_resume(rank, directory, audit):
    context = _context(rank)
    config = distributed.DistributedConfig(epochs=2, per_rank_batch=PER_RANK_BATCH, base_lr=LEARNING_RATE,
                                           base_batch=GLOBAL_BATCH, momentum=MOMENTUM, seed=SEED)
    straight, resumed = _model(SEED), _model(200)  # `resumed` gets other weights: loading must replace them
    distributed.train(config, _train_set(), _val_set(), straight, context, _shared_folder(directory, "straight", rank))
    folder = _shared_folder(directory, "resumed", rank)
    distributed.train(replace(config, epochs=1), _train_set(), _val_set(), _model(SEED), context, folder)
    with audit.recording(folder):
        history = distributed.train(config, _train_set(), _val_set(), resumed, context, folder)
        writes = list(audit.events)
    return {"straight": _weights(straight), "resumed": _weights(resumed), "history": history, "writes": writes}


def _phase_group(rank, directory, audit):
    """The learner's own set-up, through the launcher's environment (env://), then the learner's teardown."""
    context = distributed.setup_process_group()
    result = {"rank": context.rank, "local_rank": context.local_rank, "world_size": context.world_size,
              "device": str(context.device), "initialized": dist.is_initialized()}
    if result["initialized"]:
        result["backend"] = str(dist.get_backend())
        total = torch.tensor([float(rank + 1)])
        dist.all_reduce(total)
        result["sum"] = total.item()
    distributed.cleanup_process_group()
    result["open_after_cleanup"] = dist.is_initialized()
    return result


_PHASE_FUNCTIONS = {"shares": _phase_shares, "epochs": _phase_epochs, "metrics": _phase_metrics,
                    "step": _phase_step, "writes": _phase_writes, "resume": _phase_resume, "group": _phase_group}


def _short(path: str) -> str:
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _describe(error: BaseException) -> dict:
    """The exception as data, with the last line of the learner's code it went through."""
    try:
        week_folder = Path(distributed.module().__file__).resolve().parent
    except BaseException:  # noqa: BLE001 (the module itself does not import)
        week_folder = None
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if week_folder is not None and Path(f.filename).resolve().parent == week_folder]
    where = f"{_short(frames[-1].filename)}:{frames[-1].lineno}" if frames else ""
    return {"error": type(error).__name__, "message": str(error).strip(), "where": where}


def _grade_on_rank(directory: str) -> None:
    """What each rank runs: every phase in a fresh gloo group; results saved as {phase}.rank{r}.pt."""
    directory, rank = Path(directory), int(os.environ["RANK"])
    audit = _WriteAudit()
    sys.addaudithook(audit)
    timeout = datetime.timedelta(seconds=COLLECTIVE_TIMEOUT_S)
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False, timeout=timeout)
    for name, run in _PHASE_FUNCTIONS.items():
        (directory / f"progress.rank{rank}").write_text(name)
        torch.manual_seed(SEED)
        try:
            if name != "group":  # the last phase tests the learner's own set-up
                dist.init_process_group("gloo", store=dist.PrefixStore(f"autograder-{name}", store), rank=rank,
                                        world_size=WORLD_SIZE, timeout=timeout)
            result = run(rank, directory, audit)
        except BaseException as error:  # noqa: BLE001 (pytest.fail from a broken import included)
            result = _describe(error)
        finally:
            if dist.is_initialized():
                dist.destroy_process_group()  # a failed rank lets its peer's pending collective fail fast
        torch.save(result, directory / f"{name}.rank{rank}.pt")
    (directory / f"progress.rank{rank}").write_text("done")


# ---- the tests' side ----------------------------------------------------------------------------------------------

_PEER_SYMPTOMS = ("connection closed", "connection reset", "timed out", "timeout", "broken pipe", "gloo")


class _Ranks:
    """The phases' results, or a message saying why a phase has none."""

    def __init__(self, directory: Path, problem: str):
        self.directory, self.problem = directory, problem

    def phase(self, name: str) -> list[dict]:
        files = [self.directory / f"{name}.rank{rank}.pt" for rank in range(WORLD_SIZE)]
        results = [torch.load(path, weights_only=True) if path.exists() else None for path in files]
        errors = [(rank, result) for rank, result in enumerate(results) if result is not None and "error" in result]
        if errors and (None not in results or not all(self._symptom(error) for _, error in errors)):
            self._raise(name, errors)  # a rank's own error explains the phase, even if the other rank then hung
        if None in results:
            fail(self._missing(name))
        return results

    def _missing(self, name: str) -> str:
        where = {rank: self._progress(rank) for rank in range(WORLD_SIZE)}
        order = list(PHASES)
        stuck = sorted((rank for rank in range(WORLD_SIZE) if where[rank] in PHASES), key=lambda r: order.index(where[r]))
        if stuck:  # the rank stuck earliest is the cause; the other one waited for it
            rank = stuck[0]
            return (f"rank {rank} never finished {PHASES.get(where[rank], where[rank])} and was killed {self.problem}: "
                    f"an endless loop, or a collective call (dist.barrier, all_reduce, ...) that only some ranks make "
                    f"— every rank must make the same collective calls in the same order"
                    + ("" if where[rank] == name else f" (so {PHASES[name]} could not be graded)"))
        return f"the ranks did not report on {PHASES[name]}: {self.problem}"

    def _progress(self, rank: int) -> str:
        path = self.directory / f"progress.rank{rank}"
        return path.read_text() if path.exists() else ""

    @staticmethod
    def _symptom(error: dict) -> bool:
        """What a rank sees when its peer failed, or never joined a collective call."""
        return any(word in error["message"].lower() for word in _PEER_SYMPTOMS)

    def _raise(self, name: str, errors: list[tuple[int, dict]]) -> None:
        symptom = self._symptom
        rank, error = sorted(errors, key=lambda item: symptom(item[1]))[0]
        where = f" at {error['where']}" if error["where"] else ""
        if error["error"] == "NotImplementedError":
            raise NotImplementedError(f"{PHASES[name]}{where}")
        if error["error"] == "Failed":  # the module could not be imported: the loader's message says where
            fail(error["message"])
        if "has no attribute 'set_epoch'" in error["message"]:
            fail(f"rank {rank} raised {error['error']} in {PHASES[name]}{where}: {error['message']} — make_loader must "
                 f"give the DataLoader a DistributedSampler (it is what has set_epoch)")
        if symptom(error):
            fail(f"rank {rank} waited in a collective call during {PHASES[name]} that the other rank never joined, "
                 f"and gave up ({error['error']}{where}: {error['message'][:200]}): every rank must make the same "
                 f"collective calls (dist.barrier, all_reduce, ...) in the same order — is one inside `if rank == 0:`?")
        fail(f"rank {rank} raised {error['error']} in {PHASES[name]}{where}: {error['message'][:500]}")


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> _Ranks:
    distributed.module()  # a module that does not import fails every test here, without starting any process
    directory = tmp_path_factory.mktemp("ranks")
    problem = ""
    try:
        launch(_grade_on_rank, str(directory), nproc=WORLD_SIZE, timeout_s=LAUNCH_BUDGET_S, threads_per_process=1,
               start_method="fork" if sys.platform == "linux" else "spawn", capture_output=True,
               extra_env={"CUDA_VISIBLE_DEVICES": ""},
               preload=("torch._dynamo",))  # imported once, before the fork, instead of by each rank's first DDP
    except LaunchTimeout:
        problem = f"after this test's {LAUNCH_BUDGET_S} s budget"
    except LaunchError as error:
        problem = f"(a rank died: {str(error).strip().splitlines()[-1][:300]})"
    return _Ranks(directory, problem)


def _max_difference(first: dict, second: dict) -> float:
    return max((first[key] - second[key]).abs().max().item() for key in first)


def _expect_same_weights_on_both_ranks(first: dict, second: dict, when: str) -> None:
    difference = _max_difference(first, second)
    if not difference <= 1e-6:
        fail(f"{when} the two ranks hold different weights (max difference {difference:.3g}): the gradients were not "
             f"averaged. Run forward and backward through the DistributedDataParallel model, not the model inside it, "
             f"and build the optimizer on the wrapped model's parameters")


@pytest.mark.points(1)
def test_effective_batch_and_learning_rate():
    for arguments, expected in (((32, 4, 0.1, 64), (128, 0.2)), ((16, 1, 0.05, 64), (16, 0.0125)),
                                ((64, 2, 0.4, 512), (128, 0.1))):
        got = distributed.effective_batch_and_lr(*arguments)
        per_rank, world, base_lr, base_batch = arguments
        expect_true(isinstance(got, tuple) and len(got) == 2,
                    f"effective_batch_and_lr should return (effective batch, learning rate), got {got!r}")
        if got[0] == per_rank and world > 1:
            fail(f"effective_batch_and_lr{arguments} returned effective batch {got[0]}, the per-rank batch: one "
                 f"optimizer step uses the batches of all {world} ranks, {per_rank} x {world} = {expected[0]}")
        expect_true(got[0] == expected[0], f"effective_batch_and_lr{arguments}: expected effective batch "
                                           f"{expected[0]} (per-rank batch x world size), got {got[0]!r}")
        expect_close(f"learning rate for effective batch {expected[0]} (base {base_lr} at batch {base_batch})",
                     got[1], expected[1], atol=1e-12, rtol=1e-9,
                     hint="scale linearly: base_lr x effective batch / base batch")


@pytest.mark.points(2)
@pytest.mark.timeout(LAUNCH_BUDGET_S + 30)
def test_each_rank_gets_a_disjoint_share(ranks):
    shares = ranks.phase("shares")
    seen = [[i for batch in result["batches"] for i in batch] for result in shares]
    for rank, indices in enumerate(seen):
        if len(indices) == TRAIN_SIZE:
            fail(f"rank {rank} iterated over the whole dataset ({TRAIN_SIZE} of {TRAIN_SIZE} examples): no "
                 f"DistributedSampler? Give the DataLoader `sampler=DistributedSampler(dataset, num_replicas=world_size, "
                 f"rank=rank, ...)`, so that each of the {WORLD_SIZE} ranks trains on its own {TRAIN_SIZE // 2}")
        expect_true(len(indices) == TRAIN_SIZE // WORLD_SIZE,
                    f"rank {rank} got {len(indices)} examples per epoch; with {WORLD_SIZE} ranks each should get "
                    f"{TRAIN_SIZE // WORLD_SIZE} of {TRAIN_SIZE}")
    overlap = sorted(set(seen[0]) & set(seen[1]))
    expect_true(not overlap, f"ranks 0 and 1 both got examples {overlap[:6]}: the shares must be disjoint — pass "
                             f"num_replicas=context.world_size and rank=context.rank to the DistributedSampler")
    sizes = sorted({len(batch) for result in shares for batch in result["batches"]})
    expect_true(sizes == [PER_RANK_BATCH], f"make_loader(batch_size={PER_RANK_BATCH}) gave batches of {sizes} examples: "
                                           f"batch_size is each rank's batch")
    expect_true(seen[0] != sorted(seen[0]), f"with shuffle=True rank 0 still got its share in index order "
                                            f"{seen[0][:6]}...: pass shuffle (and seed) to the DistributedSampler")


@pytest.mark.points(2)
@pytest.mark.timeout(LAUNCH_BUDGET_S + 30)
def test_each_epoch_has_a_new_order(ranks):
    results = ranks.phase("epochs")
    for rank, result in enumerate(results):
        first, second = result["orders"]
        expect_true(len(first) == TRAIN_SIZE // WORLD_SIZE,
                    f"in one call of train_one_epoch rank {rank}'s model saw {len(first)} examples; its share is "
                    f"{TRAIN_SIZE // WORLD_SIZE}: go over the loader exactly once")
        if first == second:
            fail(f"rank {rank} saw its examples in the same order in epochs 0 and 1 ({first[:6]}...): call "
                 f"`loader.sampler.set_epoch(epoch)` at the start of train_one_epoch — the DistributedSampler shuffles "
                 f"with seed + epoch, so without it every epoch repeats epoch 0")
    for epoch in range(2):
        overlap = sorted(set(results[0]["orders"][epoch]) & set(results[1]["orders"][epoch]))
        expect_true(not overlap, f"in epoch {epoch} both ranks trained on examples {overlap[:6]}: call set_epoch "
                                 f"with the same epoch number on every rank")


@pytest.mark.points(4)
@pytest.mark.timeout(LAUNCH_BUDGET_S + 30)
def test_two_ranks_match_one_process_with_the_whole_batch(ranks):
    results = ranks.phase("step")
    expect_true(results[0]["wrapped"] == "DistributedDataParallel",
                f"wrap_model_and_optimizer returned a {results[0]['wrapped']}, not a DistributedDataParallel: wrap "
                f"the model, so that backward averages the gradients over the ranks")
    for rank, result in enumerate(results):
        seen = sum(len(batch) for batch in result["seen"])
        if seen == TRAIN_SIZE:
            fail(f"in one epoch rank {rank} trained on all {TRAIN_SIZE} examples (no DistributedSampler in "
                 f"make_loader?): each of the {WORLD_SIZE} ranks should train on its own {TRAIN_SIZE // WORLD_SIZE}, "
                 f"so that together they take the steps of one process with batch {GLOBAL_BATCH}")
    _expect_same_weights_on_both_ranks(results[0]["weights"], results[1]["weights"], f"after {STEPS} steps")
    expected = _one_process(epochs=1)[0][0]
    for key, value in results[0]["weights"].items():
        expect_close(f"'{key}' after {STEPS} steps on {WORLD_SIZE} ranks (batch {PER_RANK_BATCH} each) vs one process "
                     f"(batch {GLOBAL_BATCH})", value, expected[key], atol=1e-5, rtol=1e-4,
                     hint="the loss should be cross_entropy's mean over the rank's batch, and the step plain SGD with "
                          "the learning rate and momentum given")


@pytest.mark.points(1)
@pytest.mark.timeout(LAUNCH_BUDGET_S + 30)
def test_optimizer_is_built_on_the_wrapped_model(ranks):
    result = ranks.phase("step")[0]
    events = result["events"]
    expect_true("ddp" in events, "wrap_model_and_optimizer built no DistributedDataParallel")
    expect_true("optimizer" in events, "wrap_model_and_optimizer built no optimizer (torch.optim.SGD)")
    if events.index("optimizer") < events.index("ddp"):
        fail("the optimizer was built on the unwrapped model, before it was wrapped in DistributedDataParallel: wrap "
             "first, then build the optimizer from the wrapped model's parameters (`ddp_model.parameters()`); "
             "wrappers such as FSDP replace the parameters, and DDP broadcasts rank 0's weights when it is built")
    expect_true(result["optimizer_holds_the_model"],
                "the optimizer does not hold exactly the returned model's parameters: build it from "
                "`ddp_model.parameters()`")


@pytest.mark.points(2)
@pytest.mark.timeout(LAUNCH_BUDGET_S + 30)
def test_metrics_are_global(ranks):
    for rank, result in enumerate(ranks.phase("metrics")):
        local = [[6.0 / 40, 30.0 / 40], [2.0 / 40, 10.0 / 40]][rank]
        if all(abs(a - b) < 1e-9 for a, b in zip(result["reduced"], local)):
            fail(f"global_metrics on rank {rank} returned its own numbers {local} (rank-local metrics): all-reduce "
                 f"the loss sum, the correct count and the example count over the ranks before dividing, so that "
                 f"every rank reports (0.1, 0.5)")
        expect_close(f"global_metrics on rank {rank} (rank 0 had loss sum 6, 30 correct of 40; rank 1 2, 10 of 40)",
                     result["reduced"], [0.1, 0.5], atol=1e-9)
        model, (images, labels) = _model(SEED), _val_set().tensors
        with torch.no_grad():
            logits = model(images)
        expected = [nn.functional.cross_entropy(logits, labels).item(), (logits.argmax(1) == labels).float().mean().item()]
        expect_close(f"evaluate on rank {rank}: (loss, accuracy) over both ranks' {VAL_SIZE} validation examples",
                     result["evaluated"], expected, atol=1e-5,
                     hint="sum the per-example losses (reduction='sum'), the correct count and the count, then reduce")
    first, second = ranks.phase("epochs")
    _expect_same_weights_on_both_ranks(first["weights"][0], second["weights"][0], "after train_one_epoch")
    if first["metrics"][0] != second["metrics"][0]:
        fail(f"train_one_epoch reported (loss, accuracy) {first['metrics'][0]} on rank 0 and {second['metrics'][0]} "
             f"on rank 1 for the same epoch (rank-local metrics): reduce them with global_metrics")
    expect_close("train_one_epoch's (loss, accuracy) for epoch 0 vs one process over the whole epoch",
                 first["metrics"][0], _one_process(epochs=1)[1][0], atol=1e-5,
                 hint="measure each batch's loss and predictions before its optimizer step")


@pytest.mark.points(2)
@pytest.mark.timeout(LAUNCH_BUDGET_S + 30)
def test_only_rank_zero_writes(ranks):
    first, second = ranks.phase("writes")
    if second["writes"]:
        fail(f"rank 1 wrote too: {sorted({path for _, path in second['writes']})} (every rank saving): only rank 0 "
             f"may write checkpoints and logs — the ranks would overwrite one another's file, and on a cluster each "
             f"node would keep its own. Write under `if context.is_main:`")
    written = {path for what, path in first["writes"] if what in ("rename", "torch.save", "open for writing")}
    for name in ("checkpoint.pt", "log.json"):
        expect_true(name in written, f"rank 0 did not write {name} (it wrote {sorted(written)})")
        direct = [what for what, path in first["writes"] if path == name and what in ("open for writing", "torch.save")]
        expect_true(not direct, f"rank 0 wrote {name} in place ({direct[0] if direct else ''}): write a temporary "
                                f"file in the same folder, then os.replace it, so that a crash never leaves half a file")
    expect_true(second["complete_after_save"],
                "rank 1 returned from save_checkpoint before rank 0 had finished writing the checkpoint: end "
                "save_checkpoint with dist.barrier() on every rank, so that no rank reads or resumes from half a file")
    folder = ranks.directory / "writes"
    leftovers = sorted(p.name for p in folder.iterdir() if p.name not in ("checkpoint.pt", "log.json"))
    expect_true(not leftovers, f"temporary files were left behind: {leftovers}")
    expect_true(json.loads((folder / "log.json").read_text()) == first["record"],
                "log.json should hold the record given to write_log, as JSON")


@pytest.mark.points(2)
@pytest.mark.timeout(LAUNCH_BUDGET_S + 30)
def test_every_rank_resumes_from_the_same_checkpoint(ranks):
    for rank, result in enumerate(ranks.phase("writes")):
        expect_true(bool(result["loads"]), f"rank {rank} did not load the checkpoint: on resume every rank must load it "
                                           f"(DDP broadcast rank 0's weights when it was built, before the load)")
        expect_true(all(flag is True for flag in result["loads"]),
                    f"load the checkpoint with torch.load(..., weights_only=True) (rank {rank}: {result['loads']})")
        expect_true(result["weights_error"] == 0, f"after load_checkpoint rank {rank}'s weights differ from the saved "
                                                  f"ones by up to {result['weights_error']:.3g}: load into model.module")
        expect_true(result["momentum_error"] == 0,
                    f"after load_checkpoint rank {rank}'s optimizer state (momentum buffers) "
                    f"{'is missing' if result['momentum_error'] is None else 'differs from the saved one'}: load the "
                    f"optimizer's state_dict too")
        expect_true(result["epoch"] == 1 and result["history"] == {"train_loss": [1.5]},
                    f"load_checkpoint should return (epoch, history) as saved, (1, {{'train_loss': [1.5]}}); rank {rank} "
                    f"got ({result['epoch']!r}, {result['history']!r})")
    first, second = ranks.phase("resume")
    _expect_same_weights_on_both_ranks(first["straight"], second["straight"], "after train() for 2 epochs straight,")
    difference = _max_difference(first["resumed"], second["resumed"])
    if not difference <= 1e-6:
        fail(f"after resuming, rank 1's weights differ from rank 0's (max difference {difference:.3g}): every rank must "
             f"load the checkpoint")
    for key, value in first["resumed"].items():
        expect_close(f"'{key}' after 1 epoch + resume + 1 epoch vs 2 epochs straight", value, first["straight"][key],
                     atol=1e-5, hint="resume must restore the weights and the optimizer state on every rank")


@pytest.mark.points(2)
@pytest.mark.timeout(LAUNCH_BUDGET_S + 30)
def test_process_group_setup_and_teardown(ranks):
    for rank, result in enumerate(ranks.phase("group")):
        got = (result["rank"], result["local_rank"], result["world_size"])
        expect_true(got == (rank, rank, WORLD_SIZE), f"rank {rank}'s Context says (rank, local_rank, world_size) = "
                                                     f"{got}; expected {(rank, rank, WORLD_SIZE)}: read RANK, "
                                                     f"LOCAL_RANK and WORLD_SIZE from os.environ")
        expect_true(result["initialized"], "setup_process_group returned without a process group: call "
                                           "dist.init_process_group(backend, rank=..., world_size=...)")
        expect_true(result["backend"] == "gloo", f"on a machine without GPUs the backend must be 'gloo' (NCCL needs "
                                                 f"NVIDIA GPUs); got {result['backend']!r}")
        expect_true(result["device"] == "cpu", f"without CUDA the device must be the CPU; got {result['device']!r}")
        expect_true(result["sum"] == 3.0, f"an all_reduce over the new group gave {result['sum']} instead of 3")
        if result["open_after_cleanup"]:
            fail("after cleanup_process_group() the process group is still open (dist.is_initialized() is True): "
                 "call dist.destroy_process_group() — a group left open holds its sockets (and, on GPU, NCCL's "
                 "communicators) until the process dies")
