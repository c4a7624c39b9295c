"""`kill -9` at random points, mid-epoch and mid-save, then start again: the resumed run ends exactly where the
uninterrupted one does, bit for bit on CPU, and leaves no corrupt or stale file.

The runs are tests/killed_runs.py: week 3's loop with its checkpoint, and a tiny `workbook compare`. Each kill
waits for a line the run prints (a batch, or `saving <path>` halfway through a checkpoint) and then a random
delay; the seed of the delays is in the test's name, so a failure can be replayed.
"""
from __future__ import annotations

import json
import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from shared.paths import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
SEED = 13
TEMPORARY = re.compile(r"^\..+\.\d+\.[^.]+\.tmp")  # shared.atomic's temporary names, week 3's included
TIMEOUT_S = 240


class Run:
    """One run of tests/killed_runs.py, its output read line by line as it comes."""

    def __init__(self, *args: str):
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
        self.process = subprocess.Popen([sys.executable, "-m", "tests.killed_runs", *args], cwd=REPO_ROOT, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, predicate, count: int = 1) -> bool:
        """Read until the `count`-th line for which `predicate` holds; False if the run ended first."""
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            line = self.lines.get(timeout=TIMEOUT_S)
            if line is None:
                return False
            self.output.append(line)
            if predicate(line):
                count -= 1
                if count == 0:
                    return True
        raise TimeoutError("the run printed nothing expected in time:\n" + "\n".join(self.output[-20:]))

    def kill(self, delay: float) -> int:
        time.sleep(delay)
        self.process.send_signal(signal.SIGKILL)
        return self.process.wait(timeout=60)

    def finish(self) -> str:
        """Wait for the run to end by itself; its whole output."""
        self.wait_for(lambda line: False)
        self.process.wait(timeout=TIMEOUT_S)
        text = "\n".join(self.output)
        assert self.process.returncode == 0, f"the run failed (exit {self.process.returncode}):\n{text[-3000:]}"
        return text


def stale_files(directory: Path) -> list[str]:
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*") if TEMPORARY.match(path.name))


def assert_same_weights(got: dict, expected: dict, what: str) -> None:
    assert got.keys() == expected.keys(), what
    different = {key: (got[key].double() - expected[key].double()).abs().max().item()
                 for key in expected if not torch.equal(got[key], expected[key])}
    assert not different, f"{what}: weights differ from the uninterrupted run (max |difference| per tensor): {different}"


def test_week3_loop_resumes_exactly_after_kill_9(tmp_path):
    rng = random.Random(SEED)
    straight = tmp_path / "straight"
    straight.mkdir()
    Run("week3", str(straight)).finish()
    killed = tmp_path / "killed"
    killed.mkdir()
    # (what to wait for, how many of them): mid-save twice, mid-epoch twice, in an order the seed shuffles
    plans = [("saving", rng.randint(1, 3)), ("saving", rng.randint(1, 2)), ("batch", rng.randint(2, 12)),
             ("batch", rng.randint(2, 10))]
    rng.shuffle(plans)
    notes = []
    for marker, count in plans:
        run = Run("week3", str(killed))
        if not run.wait_for(lambda line, marker=marker: line.startswith(marker), count):
            break  # the run finished before this kill: nothing left to interrupt
        delay = rng.uniform(0, 0.15)
        run.kill(delay)
        stale = stale_files(killed)
        notes.append(f"killed at {marker} #{count} + {delay:.2f} s: stale {stale}")
        if (killed / "run.pt").exists():  # the last finished checkpoint is never torn
            torch.load(killed / "run.pt", weights_only=True)
    assert any("run.pt" in note.split("stale")[1] for note in notes if note.startswith("killed at saving")), (
        "no kill landed inside a save (expected a killed writer's temporary file):\n" + "\n".join(notes))
    Run("week3", str(killed)).finish()
    assert_same_weights(torch.load(killed / "final.pt", weights_only=True),
                        torch.load(straight / "final.pt", weights_only=True), "week 3, killed 4 times and resumed")
    assert sorted(p.name for p in killed.iterdir()) == ["final.pt", "run.pt"], (
        f"files left: {sorted(p.name for p in killed.iterdir())}\n" + "\n".join(notes))


COMPARE = ["--models", "cnn", "lstm", "--frameworks", "torch", "--size", "120", "--epochs", "2", "--batch-size",
           "16", "--latency-repeats", "1", "--data-efficiency", "--no-progress"]
TIMINGS = ("train_time_s", "train_cpu_s", "train_images_per_s", "latency_ms_per_image_batch1",
           "latency_ms_per_image_batch64", "latency_eager_ms_per_image_batch64", "epoch_time_s")


def _untimed(value):
    """`value` without its clock readings, at any depth (a row, its per-seed runs, their histories)."""
    if isinstance(value, dict):
        return {key: _untimed(item) for key, item in value.items() if key not in TIMINGS}
    return [_untimed(item) for item in value] if isinstance(value, list) else value


def _comparable(results: dict) -> list[dict]:
    return [_untimed(row) for row in results["rows"]]


def test_compare_resumes_after_kill_9(tmp_path):
    rng = random.Random(SEED)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    Run("compare", *COMPARE, "--out", str(straight)).finish()

    # 1. mid-epoch of the second row: the first row is finished and must be kept, not trained again
    run = Run("compare", *COMPARE, "--out", str(killed))
    assert run.wait_for(lambda line: line.startswith("[2/2]") and "training" in line)
    assert run.wait_for(lambda line: line == "batch", rng.randint(1, 8))
    run.kill(rng.uniform(0, 0.05))
    # 2. mid-save of the second row's checkpoint: a killed writer's temporary file is left behind
    run = Run("compare", "--resume", str(killed), "--no-progress")
    assert run.wait_for(lambda line: line.startswith("saving") and "lstm" in line)
    run.kill(rng.uniform(0, 0.15))
    assert stale_files(killed), "the kill did not land inside the save"
    text = Run("compare", "--resume", str(killed), "--no-progress").finish()
    assert "cnn-torch-reference: kept from the interrupted run" in text, text
    assert "[1/2] cnn" not in text, f"the finished row was trained again:\n{text}"
    assert not stale_files(killed), stale_files(killed)

    expected = json.loads((straight / "results.json").read_text())
    got = json.loads((killed / "results.json").read_text())
    assert _comparable(got) == _comparable(expected)
    for row in expected["rows"]:
        assert_same_weights(torch.load(killed / row["checkpoint"]["file"], weights_only=True),
                            torch.load(straight / row["checkpoint"]["file"], weights_only=True), row["id"])
