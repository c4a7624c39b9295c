"""Time budgets that do not punish a slow or busy machine.

A test's budget is `@pytest.mark.timeout(s)` (60 s by default), at least ten times what the reference solution
needs on the 2-core reference machine. It is counted in CPU seconds of the grading process (all its threads),
which other programs on the machine barely change, and scaled by how much slower than the reference machine this
one is: `calibrate()` times a small torch workload once at start-up (about 0.1 s). Each phase of a test (set-up,
call, tear-down) runs under a `Timer`:
- past its CPU budget, the test is stopped (BudgetExceeded, raised again every second if the code catches it);
- past a wall-clock limit (3x the scaled budget), it is stopped only if it is *waiting* (under a quarter of a
  core busy: a sleep, a lock, input(), a queue); code that computes on a busy machine gets more time, and the
  CPU budget decides.
The parent process (isolation.py) kills a grading process that ignores both (`Scale.should_kill`). So a test fails
for time only when the code is far slower than the reference would be on the same machine, and says so.
"""
from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

DEFAULT_BUDGET_S = 60
# The calibration workload, one torch thread, on the 2-core reference machine (the fastest of 25 runs, 2026-11-21;
# `python bench/autograder_time.py --calibration` measures it again).
REFERENCE_CALIBRATION = {"wall_s": 0.045, "cpu_s": 0.045}
WALL_MARGIN = 3.0          # the wall-clock limit is this many times the scaled budget
WAITING_SHARE = 0.25       # below this share of one core (CPU-s per wall-s), a test is waiting, not computing


class BudgetExceeded(BaseException):
    """Raised in the test when its budget runs out. A BaseException, so `except Exception` does not swallow it."""


@dataclass(frozen=True)
class Scale:
    """How much slower than the reference machine this one is now (>= 1), in wall-clock and CPU time."""
    wall: float = 1.0
    cpu: float = 1.0

    def limits(self, budget_s: float) -> tuple[float, float]:
        """(CPU-seconds, wall-seconds) a test of budget `budget_s` may use here."""
        return budget_s * self.cpu, budget_s * self.wall * WALL_MARGIN

    def should_kill(self, budget_s: float, cpu_s: float | None, wall_s: float) -> bool:
        """For the parent: has a grading process ignored this test's limits? `cpu_s` None when unknown."""
        cpu_limit, wall_limit = self.limits(budget_s)
        if cpu_s is not None and cpu_s > 1.5 * cpu_limit + 10:
            return True  # it kept computing after BudgetExceeded
        if wall_s > 1.3 * wall_limit + 5 and (cpu_s is None or cpu_s < WAITING_SHARE * wall_s):
            return True  # it kept waiting after BudgetExceeded
        return wall_s > 10 * wall_limit + 60  # whatever it does

    def times(self, factor: float) -> "Scale":
        """Every budget `factor` times longer (the grader's own tests shorten them to provoke timeouts)."""
        return Scale(self.wall * factor, self.cpu * factor)


def _workload() -> None:
    import torch

    generator = torch.Generator().manual_seed(0)
    conv = torch.nn.Conv2d(3, 16, 3, padding=1)
    images = torch.randn(32, 3, 32, 32, generator=generator)
    for _ in range(12):
        conv(images).relu().mean().backward()
    total = 0
    for i in range(300_000):  # the interpreter's own speed: learners' loops are Python too
        total += i * i


def measure(repeats: int = 3) -> tuple[float, float]:
    """(wall, CPU) seconds of the workload, the fastest of `repeats` runs after a warm-up."""
    _workload()
    runs = []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        _workload()
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    return min(r[0] for r in runs), min(r[1] for r in runs)


def calibrate() -> Scale:
    """Time the workload (about 0.2 s); call it in a process that may use torch's thread pool (not in one that
    forks grading processes afterwards)."""
    wall, cpu = measure()
    return Scale(wall=max(1.0, wall / REFERENCE_CALIBRATION["wall_s"]),
                 cpu=max(1.0, cpu / REFERENCE_CALIBRATION["cpu_s"]))


def cpu_seconds() -> float:
    """CPU-seconds of this process, all its threads (CLOCK_PROCESS_CPUTIME_ID; on Windows too)."""
    return time.process_time()


class Timer:
    """Raises BudgetExceeded in the main thread when the CPU budget is spent, or the wall-clock limit is reached
    while the code waits (POSIX only). It keeps raising every second after that, so that code which catches the
    first one still stops."""

    def __init__(self, budget_s: float, scale: Scale):
        self.budget_s, self.scale = budget_s, scale
        self.cpu_limit, self.wall_limit = scale.limits(budget_s)
        self.available = hasattr(signal, "setitimer")

    def __enter__(self) -> "Timer":
        self.start_wall, self.start_cpu = time.perf_counter(), cpu_seconds()
        if self.available:
            self._previous = {sig: signal.signal(sig, self._expired) for sig in (signal.SIGPROF, signal.SIGALRM)}
            signal.setitimer(signal.ITIMER_PROF, self.cpu_limit, 1.0)
            signal.setitimer(signal.ITIMER_REAL, self.wall_limit, 1.0)
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self.available and getattr(self, "_previous", None):
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.setitimer(signal.ITIMER_REAL, 0)
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)
            self._previous = None

    def used(self) -> tuple[float, float]:
        return cpu_seconds() - self.start_cpu, time.perf_counter() - self.start_wall

    def _expired(self, signum, frame) -> None:
        cpu, wall = self.used()
        if signum == signal.SIGALRM and cpu >= WAITING_SHARE * wall:
            signal.setitimer(signal.ITIMER_REAL, self.wall_limit / 2, 1.0)  # computing on a busy machine: the CPU
            return                                                          # budget decides
        raise BudgetExceeded(self.message(signum == signal.SIGALRM))

    def message(self, by_wall_clock: bool) -> str:
        cpu, wall = self.used()
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        if by_wall_clock:
            return (f"still running after {wall:.0f} s of wall-clock time while using only {cpu:.1f} CPU-seconds: "
                    f"the code is waiting, not computing (a sleep, a lock, input(), a queue or a process that never "
                    f"answers?). Limit here: {self.wall_limit:.0f} s (machine load {load:.1f}).")
        return (f"used {cpu:.0f} CPU-seconds, more than this test's budget of {self.budget_s:g} CPU-s "
                f"(x{self.scale.cpu:.1f} for this machine's speed): the reference solution needs a tenth of that or "
                f"less. Look for an infinite loop, or far more work than the exercise asks for (a loop over pixels, "
                f"a model far larger than asked).")
