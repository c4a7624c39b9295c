"""The results table, shared by report.md and report.html: columns, formatting, and the best value per column."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass
class Column:
    header: str
    key: str
    fmt: Callable[[object], str]
    better: str | None = None  # "high", "low", or None: no best marked


def _size(value: float) -> str:
    return f"{value / 1e6:.2f} MB" if value >= 1e6 else f"{value / 1e3:.0f} kB"


COLUMNS = [
    Column("test accuracy", "test_accuracy", lambda v: f"{100 * v:.1f}%", "high"),
    Column("macro-F1", "macro_f1", lambda v: f"{v:.3f}", "high"),
    Column("params (trainable)", "params_total", None),
    Column("train time", "train_time_s", lambda v: f"{v:.1f} s", "low"),
    Column("train img/s", "train_images_per_s", lambda v: f"{v:,.0f}", "high"),
    Column("latency b=1 (ms/img)", "latency_ms_per_image_batch1", lambda v: f"{v:.2f}", "low"),
    Column("latency b=64 (ms/img)", "latency_ms_per_image_batch64", lambda v: f"{v:.3f}", "low"),
    Column("size on disk", "model_size_bytes", _size, "low"),
    Column("best epoch", "best_epoch", lambda v: str(v + 1)),
]


def row_label(row: dict) -> str:
    """How the report, its figures and its table name a row: "cnn · torch", or "cnn · torch · mine"."""
    return f"{row['model']} · {row['framework']}" + (" · mine" if row["impl"] == "mine" else "")


def _params(row: dict) -> str:
    total, trainable = row["params_total"], row["params_trainable"]
    return f"{total:,}" if total == trainable else f"{total:,} ({trainable:,})"


def best_values(rows: list[dict]) -> dict[str, float]:
    best = {}
    for column in COLUMNS:
        values = [row[column.key] for row in rows]
        if column.better and len(values) > 1:
            best[column.key] = max(values) if column.better == "high" else min(values)
    return best


def table_cells(rows: list[dict]) -> tuple[list[str], list[list[tuple[str, bool]]]]:
    """(headers, rows of (text, is_best)) for the measured rows."""
    headers = ["model", "framework", "impl"] + [column.header for column in COLUMNS]
    best = best_values(rows)
    body = []
    for row in rows:
        cells = [(row[key], False) for key in ("model", "framework", "impl")]
        for column in COLUMNS:
            text = _params(row) if column.key == "params_total" else column.fmt(row[column.key])
            cells.append((text, column.key in best and row[column.key] == best[column.key]))
        body.append(cells)
    return headers, body
