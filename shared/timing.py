"""Timing shared by the exercises and the report: a stopwatch and one latency timer (warm-up, then median)."""
from __future__ import annotations

import statistics
import time
from typing import Callable

WARMUP = 3    # untimed calls first: lazy init, allocator and caches would otherwise inflate the first timings
REPEATS = 15  # the median of this many timed calls; the median ignores the odd slow call from a busy machine


class Stopwatch:
    """`with Stopwatch() as watch: ...` then `watch.seconds`."""

    def __enter__(self) -> "Stopwatch":
        self.start, self.seconds = time.perf_counter(), 0.0
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.start


def median_seconds(function: Callable[[], object], warmup: int = WARMUP, repeats: int = REPEATS) -> float:
    """Call `function` `warmup` times untimed, then `repeats` times; return the median duration in seconds."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}.")
    for _ in range(warmup):
        function()
    durations = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        durations.append(time.perf_counter() - start)
    return statistics.median(durations)


def latency_ms_per_image(predict: Callable[[object], object], batch, batch_size: int,
                         warmup: int = WARMUP, repeats: int = REPEATS) -> float:
    """Milliseconds per image for `predict(batch)` on a batch of `batch_size` images (median of repeats)."""
    return 1000.0 * median_seconds(lambda: predict(batch), warmup, repeats) / batch_size
