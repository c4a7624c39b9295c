"""Exercises open as notebooks (jupytext): weeks/weekN/<exercise>.py *is* the notebook, its last cell grades it, and
the lessons link to every exercise."""
from __future__ import annotations

import ast
import os
import re
import time
from pathlib import Path

import jupytext
import nbformat
import pytest

from shared import release
from shared.paths import REPO_ROOT, SOLUTIONS_DIR, WEEKS_DIR

EXERCISES = sorted(path for path in WEEKS_DIR.glob("week*/*.py")
                   if (REPO_ROOT / "autograder" / path.parent.name / f"test_{path.stem}.py").exists())


def _defs(source: str) -> dict[str, str]:
    return {node.name: ast.get_source_segment(source, node) for node in ast.parse(source).body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef))}


def test_there_are_exercises():
    assert len(EXERCISES) >= 20, EXERCISES


@pytest.mark.parametrize("path", EXERCISES, ids=[f"{p.parent.name}/{p.stem}" for p in EXERCISES])
def test_exercise_opens_as_a_notebook_that_grades_itself(path: Path):
    week, name = path.parent.name, path.stem
    text = path.read_text()
    notebook = jupytext.reads(text, fmt="py:light")
    setup, last = notebook.cells[0], notebook.cells[-1]
    assert setup.cell_type == "code" and setup.metadata.get("active") == "ipynb"
    assert f'__package__ = "weeks.{week}"' in setup.source
    assert last.cell_type == "code" and last.metadata.get("active") == "ipynb", "the last cell must grade"
    assert f'grade("{week}", "{name}", globals())' in last.source
    main_guards = [c for c in notebook.cells if "__main__" in c.source and c.cell_type != "markdown"]
    assert all(c.cell_type == "raw" for c in main_guards), "the __main__ block must not run in the notebook"
    # A notebook saved without edits writes back the same file; Python sees only comments added to the stub.
    assert jupytext.writes(notebook, fmt="py:light") == text
    source = release.for_learner(f"{week}/{name}.py", (SOLUTIONS_DIR / week / f"{name}.py").read_text())
    stub = release.HEADER.format(path=f"{week}/{name}.py") + release.clear_solutions(source)
    assert ast.dump(ast.parse(text)) == ast.dump(ast.parse(stub))


def _fill_in(notebook, week: str, name: str) -> int:
    """Type the reference into every cell that still raises NotImplementedError, as a learner would."""
    reference, filled = _defs((SOLUTIONS_DIR / week / f"{name}.py").read_text()), 0
    for cell in notebook.cells:
        if cell.cell_type == "code" and "raise NotImplementedError()" in cell.source:
            cell.source = "\n\n".join(reference[n] for n in _defs(cell.source))
            filled += 1
    return filled


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_learner_fills_in_a_week2_notebook_and_sees_the_scoreboard(tmp_path, monkeypatch):
    """Jupyter's own contents manager (with jupytext) opens weeks/week2/data.py as a notebook and saves it back;
    the notebook's last cell prints the autograder's scoreboard for the file as saved."""
    from jupyter_server.services.contents.largefilemanager import LargeFileManager
    from jupytext.sync_contentsmanager import build_sync_jupytext_contents_manager_class
    from nbclient import NotebookClient

    week, name, relative = "week2", "data", "week2/data.py"
    release.release(dest=tmp_path)
    contents = build_sync_jupytext_contents_manager_class(LargeFileManager)(root_dir=str(tmp_path))
    notebook = contents.get(relative, type="notebook", content=True)["content"]
    assert _fill_in(notebook, week, name) >= 3
    contents.save({"type": "notebook", "content": notebook}, relative)
    saved = (tmp_path / relative).read_text()
    assert "raise NotImplementedError()" not in saved and '# + active="ipynb"' in saved

    notebook = contents.get(relative, type="notebook", content=True)["content"]
    edited = next(c for c in notebook.cells if c.source.startswith("def make_dataloaders"))
    edited.source = edited.source.rstrip() + "\n    unsaved_edit = True  # typed after the last save"
    grades = tmp_path / "grades.json"
    notebook.cells[-1].source = notebook.cells[-1].source.replace("globals())", f"globals(), grades_json={str(grades)!r})")
    monkeypatch.setenv("WORKBOOK_TARGET", str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    start = time.perf_counter()
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path / week)}}).execute()
    print(f"notebook ran in {time.perf_counter() - start:.0f} s")
    output = "".join(o.get("text", "") for o in notebook.cells[-1].outputs)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    assert "workbook scoreboard" in plain and re.search(r"✓ data\s+passed\s+8/8", plain), plain
    assert "make_dataloaders" in plain.split("workbook scoreboard")[0], "the unsaved edit must be named"
    assert grades.exists()


def test_lessons_link_every_exercise():
    for week in sorted({p.parent.name for p in EXERCISES}):
        notebook = nbformat.read(REPO_ROOT / "lessons" / f"{week}.ipynb", as_version=4)
        text = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
        links = set(re.findall(r"\]\((\.\./weeks/[^)]+)\)", text))
        for link in links:
            assert (REPO_ROOT / "lessons" / link).resolve().exists(), f"lessons/{week}.ipynb links to {link}"
        missing = [p.name for p in EXERCISES if p.parent.name == week and f"../weeks/{week}/{p.name}" not in links]
        assert not missing, f"lessons/{week}.ipynb does not link to {missing}"
