"""Run a function on N local processes with torchrun's own machinery, bounded in time, and get its results back.

`launch(fn, *args, nproc=N)` starts torch.distributed.elastic's agent, the engine behind the `torchrun` command
(`elastic_launch`, c10d rendezvous on a free localhost port, no restarts), inside a helper process of its own; the
agent starts N workers. Each worker finds in its environment what torchrun gives it (RANK, LOCAL_RANK, WORLD_SIZE,
LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), so `torch.distributed.init_process_group()` joins the group, and calls
`fn(*args)`. Then:
- rank 0's return value comes back (every rank's with `all_ranks=True`);
- an exception in a rank comes back as `LaunchError`, naming the rank, its exception type and its traceback;
- past `timeout_s` the helper process *and everything it started* (workers, their DataLoader workers) are killed as
  one process group, and `LaunchTimeout` is raised. Nothing is left running in any case: the group is killed on
  the way out, also when the caller is interrupted (a pytest timeout, Ctrl-C), and on Linux the helper and the
  ranks die with the caller if it is killed outright.
The ranks import what the caller can import: its `sys.path` travels to them as PYTHONPATH.
`run_in_fresh_process(fn, *args)` is the same for a single fresh process without a process group (TensorFlow, whose
logical devices can only be configured before it starts, uses it in the autograder).

How `workbook compare --nproc N` uses it (the lead wires this in; nothing here knows about compare):
- The row's training is a module-level function (it is pickled by reference), e.g. `train_row(row_spec) ->
  result`, run on every rank. Inside it: set up the process group from the environment (gloo on CPU, NCCL with
  `cuda:LOCAL_RANK` on GPU, as `solutions/week3/distributed.py` teaches), wrap the model in DistributedDataParallel
  before building the optimizer, give the loader a DistributedSampler with the per-rank batch and call `set_epoch`,
  all-reduce the metrics, save checkpoints on rank 0 only, and destroy the process group in `finally`. It returns
  something picklable (the history dict, numbers), the same on every rank.
- The parent calls `result = launch(train_row, row_spec, nproc=N, timeout_s=budget)` and records
  `world_size=N`, `per_rank_batch` and `effective_batch = per_rank_batch * N` in results.json and in the recipe.
- With N=1, call `train_row` directly in the parent (no helper process) inside
  `with environment(single_process_environment()):`, so that N=1 changes nothing but runs the same code path.
- On a GPU machine keep N <= torch.cuda.device_count() and the default start method "spawn" (a CUDA context
  must never be forked). On CPU, `start_method="fork"` skips re-importing torch in every worker (~2 s each).

Output of the ranks goes to this process's stdout/stderr (live progress) unless `capture_output=True`, in which
case it is collected and its tail attached to errors.
"""
from __future__ import annotations

import importlib
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import traceback
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from shared.atomic import write_bytes

OUTPUT_TAIL_CHARS = 4000
_CALL_FILE, _RESULT_FILE, _OUTPUT_FILE = "call.pkl", "result.pkl", "output.log"


@dataclass
class RankFailure:
    rank: int
    type_name: str   # e.g. "NotImplementedError": the exception class raised in that rank
    message: str
    traceback: str   # formatted in the rank, as text


class LaunchError(RuntimeError):
    """A rank raised, or the launcher itself failed. `failures` holds one RankFailure per failed rank."""

    def __init__(self, message: str, failures: list[RankFailure] | None = None, output: str = ""):
        super().__init__(message)
        self.failures = failures or []
        self.output = output


class LaunchTimeout(LaunchError, TimeoutError):
    """The ranks did not finish within `timeout_s`; all of them were killed."""


def default_threads(nproc: int) -> int:
    """Intra-op threads per rank: the cores shared out evenly (torchrun itself defaults to 1 when nproc > 1)."""
    return max(1, (os.cpu_count() or 1) // nproc)


def launch(fn: Callable, *args, nproc: int = 2, timeout_s: float | None = None, threads_per_process: int | None = None,
           start_method: str = "spawn", all_ranks: bool = False, capture_output: bool = False,
           extra_env: dict[str, str] | None = None, preload: tuple[str, ...] = ()) -> Any:
    """Run `fn(*args)` on `nproc` local ranks through torch.distributed.elastic; return rank 0's result.

    fn:        a module-level function (pickled by reference, so importable by the workers: lambdas and functions
               defined in a notebook or under `if __name__ == "__main__"` are not).
    timeout_s: wall-clock budget for the whole launch (start-up included); None waits for ever.
    all_ranks: return {rank: result} instead of rank 0's result.
    extra_env: variables to set for the ranks (e.g. {"CUDA_VISIBLE_DEVICES": ""} to keep them on the CPU).
    preload:   modules the helper process imports before starting the ranks; with start_method="fork" the ranks
               inherit them instead of each importing them (DistributedDataParallel imports torch._dynamo, ~2 s).
    Raises LaunchError (a rank raised: `.failures`), LaunchTimeout (killed after `timeout_s`), ValueError (bad nproc).
    """
    if nproc < 1:
        raise ValueError(f"nproc must be at least 1, got {nproc}")
    threads = threads_per_process or default_threads(nproc)
    payload = {"fn": fn, "args": args, "nproc": nproc, "threads": threads, "start_method": start_method,
               "preload": tuple(preload)}
    environment = {**_child_environment(threads), **(extra_env or {})}
    results = _run_in_own_process_group(payload, timeout_s, capture_output, environment)
    failures = [RankFailure(rank, *outcome[1:]) for rank, outcome in sorted(results.items()) if outcome[0] == "error"]
    if failures:
        first = failures[0]
        raise LaunchError(f"rank {first.rank} raised {first.type_name}: {first.message}\n{first.traceback}", failures)
    values = {rank: outcome[1] for rank, outcome in results.items()}
    return values if all_ranks else values[0]


def run_in_fresh_process(fn: Callable, *args, timeout_s: float | None = None, capture_output: bool = False,
                         extra_env: dict[str, str] | None = None) -> Any:
    """Run `fn(*args)` once in a new Python process (no process group) and return its result, with the same time
    limit, clean-up and errors as `launch`. For work that needs a process of its own, e.g. TensorFlow, whose
    logical devices can only be configured before it first runs an operation."""
    environment = {**_child_environment(default_threads(1)), **(extra_env or {})}
    payload = {"fn": fn, "args": args, "nproc": None, "threads": default_threads(1), "preload": ()}
    outcome = _run_in_own_process_group(payload, timeout_s, capture_output, environment)[0]
    if outcome[0] == "error":
        failure = RankFailure(0, *outcome[1:])
        raise LaunchError(f"{failure.type_name}: {failure.message}\n{failure.traceback}", [failure])
    return outcome[1]


def single_process_environment(port: int | None = None) -> dict[str, str]:
    """The variables torchrun sets, for a world of one process (to run rank code without a launcher)."""
    return {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "1",
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port or free_port())}


@contextmanager
def environment(variables: dict[str, str]):
    """Set environment variables inside a `with` block, restoring the previous values after it."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def free_port() -> int:
    """A TCP port on localhost that nothing listens on right now."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- the parent's side: one helper process in a new session, killed as a group -------------------------------------

def _child_environment(threads: int) -> dict[str, str]:
    """The caller's environment, plus its import path (so the workers import the same modules) and thread count."""
    paths = [str(Path(p or os.getcwd()).resolve()) for p in sys.path]
    existing = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths + ([existing] if existing else [])),
            "OMP_NUM_THREADS": str(threads)}


def _run_in_own_process_group(payload: dict, timeout_s: float | None, capture_output: bool,
                              environment: dict[str, str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="workbook-launch-") as directory:
        directory = Path(directory)
        (directory / _CALL_FILE).write_bytes(pickle.dumps(payload))
        output = open(directory / _OUTPUT_FILE, "wb") if capture_output else None
        process = subprocess.Popen([sys.executable, "-m", "shared.distributed", str(directory)],
                                   env=environment, start_new_session=True,
                                   stdout=output, stderr=subprocess.STDOUT if output else None)
        try:
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(process)
                raise LaunchTimeout(f"the {payload['nproc']} ranks did not finish within {timeout_s:g} s and were "
                                    f"killed", output=_tail(directory)) from None
        finally:
            _kill_group(process)  # also on success: grandchildren (DataLoader workers, strays) go with the group
            if output:
                output.close()
        text = _tail(directory)
        result_file = directory / _RESULT_FILE
        if process.returncode != 0 or not result_file.exists():
            raise LaunchError(f"the launcher exited with status {process.returncode} before the ranks reported "
                              f"back\n{text}", output=text)
        return pickle.loads(result_file.read_bytes())


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the session's process group: the launcher and all it started
    except (ProcessLookupError, PermissionError):
        pass  # nothing left in the group
    process.wait()


def _tail(directory: Path) -> str:
    path = directory / _OUTPUT_FILE
    return path.read_text(errors="replace")[-OUTPUT_TAIL_CHARS:] if path.exists() else ""


# ---- the helper process: torch.distributed.elastic's agent --------------------------------------------------------

def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (a parent killed without cleaning up, e.g. by
    `os._exit`, must not leave ranks running). A no-op elsewhere."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
        if os.getppid() == 1:  # the parent died before the request took effect
            os._exit(1)


def _call(fn: Callable, args: tuple) -> tuple:
    """("ok", fn(*args)), or the exception as values: ("error", type name, message, traceback)."""
    try:
        return ("ok", fn(*args))
    except BaseException as error:  # noqa: BLE001 (SystemExit and test failures included: report, don't crash)
        return ("error", type(error).__name__, str(error), traceback.format_exc())


def _run_rank(fn: Callable, args: tuple, threads: int) -> tuple:
    """What each worker runs: `fn(*args)` with `threads` intra-op threads; errors come back as values."""
    import torch
    import torch.distributed as dist

    _die_with_parent()
    torch.set_num_threads(threads)
    try:
        return _call(fn, args)
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()  # a rank that failed mid-collective must not keep its peers waiting


def _agent_main(directory: Path) -> None:
    _die_with_parent()
    payload = pickle.loads((directory / _CALL_FILE).read_bytes())
    for module in payload["preload"]:
        importlib.import_module(module)
    if payload["nproc"] is None:  # run_in_fresh_process: this process does the work itself, without torch
        _write_results(directory, {0: _call(payload["fn"], payload["args"])})
        return
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(
        min_nodes=1, max_nodes=1, nproc_per_node=payload["nproc"],
        rdzv_backend="c10d", rdzv_endpoint="localhost:0",  # what `torchrun --standalone` uses: a free port
        run_id=uuid.uuid4().hex, max_restarts=0, monitor_interval=0.05, start_method=payload["start_method"],
        logs_specs=DefaultLogsSpecs(log_dir=str(directory / "elastic")),
    )
    _write_results(directory, elastic_launch(config, _run_rank)(payload["fn"], payload["args"], payload["threads"]))


def _write_results(directory: Path, results: dict) -> None:
    write_bytes(directory / _RESULT_FILE, pickle.dumps(results))


if __name__ == "__main__":
    import shared  # noqa: F401  (the triton/TensorFlow import-order guard, before torch loads)
    from shared.distributed import _agent_main as agent_main  # the importable module, not __main__: spawn pickles it

    agent_main(Path(sys.argv[1]))
