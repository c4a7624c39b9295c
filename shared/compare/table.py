"""The results table, shared by report.md and report.html: columns, formatting, and where a ★ is earned.

A ★ marks a value that beats every other row by more than that column's noise: accuracy and macro-F1 by more
than the seed spread (shared/compare/spread.py), a time by more than TIME_MARGIN, the size on disk by any amount
(it is exact). A column with no known noise gets no ★ at all.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

TIME_MARGIN = 1.25   # a time earns its ★ only when at least 25 % better than the next row's


@dataclass
class Column:
    header: str
    key: str
    fmt: Callable[[dict], str]
    better: str | None = None  # "high", "low", or None: no ★
    noise: str | None = None   # "seeds", "time", "exact"


def _size(value: float) -> str:
    return f"{value / 1e6:.2f} MB" if value >= 1e6 else f"{value / 1e3:.0f} kB"


def _plus_minus(row: dict, key: str, scale: float, digits: int) -> str:
    spread = row.get("spread") or {}
    std = spread.get(f"{key}_std")
    mean = row[key]
    if std is None:
        return f"{scale * mean:.{digits}f}"
    mark = "" if row.get("test_accuracy_std") is not None else "†"
    return f"{scale * mean:.{digits}f} ± {scale * std:.{digits}f}{mark}"


def _params(row: dict) -> str:
    total, trainable = row["params_total"], row["params_trainable"]
    return f"{total:,}" if total == trainable else f"{total:,} ({trainable:,})"


COLUMNS = [
    Column("test accuracy (%)", "test_accuracy", lambda r: _plus_minus(r, "test_accuracy", 100, 1), "high", "seeds"),
    Column("macro-F1", "macro_f1", lambda r: _plus_minus(r, "macro_f1", 1, 3), "high", "seeds"),
    Column("params (trainable)", "params_total", _params),
    Column("epochs", "epochs", lambda r: str(r["recipe"]["epochs"])),
    Column("best epoch", "best_epoch", lambda r: str(r["best_epoch"])),
    Column("train time", "train_time_s", lambda r: f"{r['train_time_s']:.0f} s", "low", "time"),
    Column("train CPU", "train_cpu_s", lambda r: f"{r['train_cpu_s']:.0f} s"),
    Column("train img/s", "train_images_per_s", lambda r: f"{r['train_images_per_s']:,.0f}", "high", "time"),
    Column("latency b=1 (ms/img)", "latency_ms_per_image_batch1",
           lambda r: f"{r['latency_ms_per_image_batch1']:.2f}", "low", "time"),
    Column("latency b=64 (ms/img)", "latency_ms_per_image_batch64",
           lambda r: f"{r['latency_ms_per_image_batch64']:.3f}", "low", "time"),
    Column("b=64 eager (ms/img)", "latency_eager_ms_per_image_batch64",
           lambda r: f"{r['latency_eager_ms_per_image_batch64']:.3f}", "low", "time"),
    Column("size on disk", "model_size_bytes", lambda r: _size(r["model_size_bytes"]), "low", "exact"),
]
LEGEND = ("★: better than every other row by more than the column's noise (accuracy and macro-F1: the sum of the two "
          "seed spreads; times: at least 25 %; size: exact). ± is the standard deviation over training seeds; † marks "
          "a spread recorded earlier for the same data and recipe (shared/compare/spread.json), not measured in this "
          "run. Epochs are counted from 1. Latency: each framework's usual inference path (PyTorch eager, Keras a "
          "compiled tf.function) at batch 1 and 64, then both eager at batch 64.")


def row_label(row: dict) -> str:
    """How the report, its figures and its table name a row: "cnn · torch", or "cnn · torch · mine"."""
    return f"{row['model']} · {row['framework']}" + (" · mine" if row["impl"] == "mine" else "")


def _beats(best: dict, other: dict, column: Column) -> bool:
    """Whether `best` is ahead of `other` in `column` by more than the column's noise."""
    a, b = best[column.key], other[column.key]
    if column.noise == "exact":
        return a != b
    if column.noise == "time":
        return (b / a if column.better == "low" else a / b) >= TIME_MARGIN
    spreads = [row.get("spread") or {} for row in (best, other)]
    stds = [spread.get(f"{column.key}_std") for spread in spreads]
    return None not in stds and abs(a - b) > sum(stds)


def starred(rows: list[dict]) -> dict[str, str]:
    """{column key: id of the row that earns its ★} (columns where no row clearly wins are left out)."""
    stars = {}
    for column in COLUMNS:
        if not column.better or len(rows) < 2:
            continue
        ranked = sorted(rows, key=lambda r: r[column.key], reverse=column.better == "high")
        if all(_beats(ranked[0], other, column) for other in ranked[1:]):
            stars[column.key] = ranked[0]["id"]
    return stars


def table_cells(rows: list[dict]) -> tuple[list[str], list[list[tuple[str, bool]]]]:
    """(headers, rows of (text, has_star)) for the measured rows; an "impl" column only when --mine added rows."""
    names = ["model", "framework"] + (["impl"] if any(row["impl"] != "reference" for row in rows) else [])
    headers = names + [column.header for column in COLUMNS]
    stars = starred(rows)
    body = []
    for row in rows:
        cells = [(row[key], False) for key in names]
        cells += [(column.fmt(row), stars.get(column.key) == row["id"]) for column in COLUMNS]
        body.append(cells)
    return headers, body
