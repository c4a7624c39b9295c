"""The lesson notebooks (lessons/weekN.ipynb): run them as a learner does, store them with their outputs, check them.

    run_lesson(path)            # executes in a fresh kernel, as a learner would (WORKBOOK_LESSON_FAST unset)
    store(path, run)            # writes the notebook back with its outputs and a fingerprint of its code
    stale(path)                 # why the stored outputs no longer match the code cells (None: in step)
    problems(notebook)          # error outputs, and plotting cells that drew no figure

`workbook lessons` (shared/commands/lessons.py) runs and stores every lesson; `make lessons` is the same. The
stored outputs are what GitHub shows, so they must come from the code that is stored: each notebook's metadata
keeps `workbook.code_sha256`, the SHA-256 of its code cells, and the tests refuse a notebook whose code changed
since its outputs were made (run `workbook lessons` again).

A plotting cell is a code cell that calls matplotlib (`plt.`, `.imshow(`, `plot...(`): each one must leave at least
one PNG in its outputs, so a figure that silently fails to draw (a non-interactive backend chosen somewhere, an
exception swallowed) is caught.
"""
from __future__ import annotations

import hashlib
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

LESSONS_DIR = Path(__file__).resolve().parent.parent / "lessons"
FAST_ENV = "WORKBOOK_LESSON_FAST"
PLOTTING = re.compile(r"\bplt\.|\.imshow\(|\bplot\w*\(|\bdraw_diagram\(")
CELL_TIMEOUT_S = 900


@dataclass
class LessonRun:
    notebook: object        # nbformat.NotebookNode, with outputs
    seconds: float
    fast: bool


def lesson_paths(weeks: list[int] | None = None) -> list[Path]:
    paths = sorted(LESSONS_DIR.glob("week*.ipynb"))
    return [p for p in paths if weeks is None or int(p.stem.removeprefix("week")) in weeks]


def code_sha256(notebook) -> str:
    """The fingerprint of a notebook's code: its code cells' sources, in order."""
    digest = hashlib.sha256()
    for cell in notebook.cells:
        if cell.cell_type == "code":
            digest.update(cell.source.encode("utf-8") + b"\0")
    return digest.hexdigest()


def is_plotting(cell) -> bool:
    return cell.cell_type == "code" and bool(PLOTTING.search(cell.source))


def problems(notebook) -> list[str]:
    """Sentences: each cell that raised, and each plotting cell without a PNG among its outputs."""
    found = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        outputs = cell.get("outputs", [])
        errors = [out for out in outputs if out.get("output_type") == "error"]
        if errors:
            found.append(f"cell {index} raised {errors[0].get('ename')}: {errors[0].get('evalue')}")
        images = [out for out in outputs if "image/png" in out.get("data", {})]
        if is_plotting(cell) and not images:
            first = cell.source.strip().splitlines()[0][:80]
            found.append(f"cell {index} plots but shows no figure ({first!r})")
    return found


@contextmanager
def _environment(fast: bool):
    """A learner's environment: the fast switch as asked, and no matplotlib backend forced from outside."""
    saved = {name: os.environ.get(name) for name in (FAST_ENV, "MPLBACKEND", "KERAS_BACKEND")}
    os.environ.pop("MPLBACKEND", None)     # the kernel's inline backend draws the figures
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if fast:
        os.environ[FAST_ENV] = "1"
    else:
        os.environ.pop(FAST_ENV, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_lesson(path: Path, fast: bool = False, timeout_s: int = CELL_TIMEOUT_S) -> LessonRun:
    """Execute `path` top to bottom in a fresh kernel, from the lessons folder; raises on the first failing cell."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    with _environment(fast):
        client = NotebookClient(notebook, timeout=timeout_s, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        start = time.perf_counter()
        client.execute()
    return LessonRun(notebook, time.perf_counter() - start, fast)


def store(path: Path, run: LessonRun) -> None:
    """Write the executed notebook to `path` (atomically), with the fingerprint its outputs belong to."""
    import nbformat

    from shared.atomic import write_text

    if run.fast:
        raise ValueError("only a learner-mode run is stored: the fast mode shrinks the experiments")
    run.notebook.metadata["workbook"] = {"code_sha256": code_sha256(run.notebook), "mode": "learner",
                                         "seconds": round(run.seconds)}
    write_text(path, nbformat.writes(run.notebook) + "\n")


def stale(path: Path) -> str | None:
    """Why the outputs stored in `path` are not those of its code (None: they are)."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    stored = notebook.metadata.get("workbook", {}).get("code_sha256")
    if stored is None:
        return f"{path.name} is stored without outputs: run `workbook lessons --week {path.stem[4:]}`"
    if stored != code_sha256(notebook):
        return (f"{path.name}'s code changed since its outputs were made: run `workbook lessons --week "
                f"{path.stem[4:]}` and commit the notebook")
    return None
