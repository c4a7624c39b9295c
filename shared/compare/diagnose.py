"""The report's diagnosis of a training history: week 3's `diagnose` (solutions/week3/diagnose.py), as a dict
for results.json, with the train/validation accuracy gap the report quotes."""
from __future__ import annotations

from solutions.week3.diagnose import diagnose as diagnose_history


def diagnose(history: dict) -> dict:
    """{"verdict", "message", "evidence", "advice", "gap"} for one row's history."""
    result = diagnose_history(history)
    gap = float(history["train_acc"][-1] - history["val_acc"][-1])
    return {"verdict": result.verdict, "message": result.message, "evidence": result.evidence,
            "advice": result.advice, "gap": gap}
