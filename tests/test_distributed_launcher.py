"""shared/distributed.py: ranks started by torch.distributed.elastic report back, errors name the rank, and a hung
launch is killed after its budget with every process it started."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from shared.distributed import LaunchError, LaunchTimeout, launch, run_in_fresh_process


def _sum_of_ranks(offset: float) -> tuple:
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo")  # env:// from the variables the launcher set, as under torchrun
    total = torch.tensor([dist.get_rank() + offset])
    dist.all_reduce(total)
    return total.item(), int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), torch.get_num_threads()


def _rank_one_fails() -> int:
    if os.environ["RANK"] == "1":
        raise ValueError("rank one is broken")
    return 0


def _hang(folder: str) -> None:
    Path(folder, f"pid.{os.environ['RANK']}").write_text(str(os.getpid()))
    time.sleep(600)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())  # a zombie is dead, only not yet reaped


@pytest.mark.timeout(120)
def test_every_rank_reports_back():
    results = launch(_sum_of_ranks, 10.0, nproc=2, start_method="fork", threads_per_process=1, all_ranks=True,
                     timeout_s=90, capture_output=True)
    assert results == {0: (21.0, 0, 2, 1), 1: (21.0, 1, 2, 1)}


@pytest.mark.timeout(120)
def test_an_exception_names_its_rank():
    with pytest.raises(LaunchError, match="rank 1 raised ValueError: rank one is broken") as raised:
        launch(_rank_one_fails, nproc=2, start_method="fork", timeout_s=90, capture_output=True)
    assert [failure.rank for failure in raised.value.failures] == [1]


@pytest.mark.timeout(120)
def test_a_hung_launch_is_killed_with_everything_it_started(tmp_path):
    start = time.perf_counter()
    with pytest.raises(LaunchTimeout):
        launch(_hang, str(tmp_path), nproc=2, start_method="fork", timeout_s=8, capture_output=True)
    assert time.perf_counter() - start < 30
    pids = [int(path.read_text()) for path in tmp_path.glob("pid.*")]
    assert len(pids) == 2, "both ranks should have started before the budget ran out"
    time.sleep(0.5)
    assert not [pid for pid in pids if _alive(pid)], "ranks were left running after the timeout"


@pytest.mark.timeout(60)
def test_run_in_fresh_process_returns_its_value():
    assert run_in_fresh_process(os.getpid, timeout_s=50) != os.getpid()
