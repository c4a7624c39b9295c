"""Every lesson notebook runs top to bottom, offline, within its budget."""
from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

LESSONS = sorted((Path(__file__).resolve().parent.parent / "lessons").glob("*.ipynb"))
BUDGET_S = 120


@pytest.mark.timeout(BUDGET_S + 60)
@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_executes(path: Path, tmp_path: Path):
    notebook = nbformat.read(path, as_version=4)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ["WORKBOOK_LESSON_FAST"] = "1"  # lessons may shrink budgets further under test
    client = NotebookClient(notebook, timeout=BUDGET_S, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    assert elapsed < BUDGET_S, f"{path.name} took {elapsed:.0f} s; lessons must run in under {BUDGET_S} s"
