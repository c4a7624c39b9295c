"""A student's notebooks written out as the modules they stand for, in a tree laid out like weeks/.

The autograder grades such a tree with WORKBOOK_TARGET=<tree> (see shared/grading/target.py). The tree starts as a
fresh release of the week (every exercise a stub, the given files as they are) and each exercise notebook the
student has replaces its stub, so that `from .backprop import ...` imports the student's own backprop notebook, as
`pytest autograder` imports the learner's own weeks/week1/backprop.py.
"""
from __future__ import annotations

import ast
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat

from shared.paths import SOLUTIONS_DIR

SETUP_ID = "workbook-setup"  # grade_id of the notebook-only set-up cell; not part of the module
FUTURE = "from __future__ import"
BEGIN = "BEGIN SOLUTION"  # shared.release.BEGIN, not imported from there: that module imports nbgrader


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_test_cell(cell) -> bool:
    """An nbgrader autograder-test cell (graded, not a solution): it checks the module, it is not part of it."""
    meta = _nbgrader(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def _without_magics(source: str) -> str:
    """IPython-only lines (`%time`, `!pip ...`) become comments: a module cannot run them."""
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        lines.append(f"{line[:len(line) - len(stripped)]}# {stripped}" if stripped[:1] in ("%", "!") else line)
    return "\n".join(lines)


def _label(cell, number: int) -> str:
    """How a student finds a cell: by the function or class it defines, else by its place in the notebook."""
    try:
        body = ast.parse(cell.source).body
    except SyntaxError:
        body = []
    name = next((node.name for node in body if isinstance(node, (ast.FunctionDef, ast.ClassDef))), None)
    return f"the cell of `{name}`" if name else f"cell {number} (counting every cell from the top)"


@dataclass
class Module:
    """An exercise notebook written out as a module, and which lines came from which cell."""
    source: str
    cells: list[tuple[int, int, str]]  # (first line, last line, how to find the cell), lines counted from 1

    def where(self, line: int) -> str:
        for first, last, label in self.cells:
            if first <= line <= last:
                return f"line {line - first + 1} of {label}"
        return f"line {line} of its code"


def module_source(notebook) -> Module:
    """Every code cell of the notebook, top to bottom, except its test and set-up cells: the module it stands for.

    A `from __future__` import must come first in a module, while in a notebook any cell may hold it: those lines
    move to the top."""
    future, body, cells = [], [], []
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.cell_type != "code" or is_test_cell(cell) or _nbgrader(cell).get("grade_id") == SETUP_ID:
            continue
        lines = _without_magics(cell.source).splitlines()
        future += [line for line in lines if line.startswith(FUTURE)]
        lines = ["" if line.startswith(FUTURE) else line for line in lines]  # blank: the cell's lines keep their numbers
        if body:
            body += ["", ""]
        cells.append((len(body) + 1, len(body) + len(lines), _label(cell, number)))
        body += lines
    shift = len(future)
    return Module("\n".join(future + body) + "\n", [(a + shift, b + shift, label) for a, b, label in cells])


def notebooks_dir() -> Path:
    """The student's notebooks: the working directory (the assignment's folder), except under `nbgrader autograde`.

    autograde runs each notebook in autograded/<student>/<assignment>/ (nbgrader's default layout) before the
    student's other notebooks are copied there, so they are read from submitted/<student>/<assignment>/.
    """
    here = Path.cwd()
    if os.environ.get("NBGRADER_EXECUTION") == "autograde" and len(here.parents) >= 3:
        submitted = here.parents[2] / "submitted" / here.parent.name / here.name
        if submitted.is_dir():
            return submitted
    return here


def write_tree(week: str, root: Path, notebooks: Path) -> tuple[dict[str, Module], list[str]]:
    """Write `root/<week>/*.py`: each exercise from its notebook in `notebooks`, the rest as released (stubs of the
    exercises without a notebook, given files as they are). Returns the modules written from notebooks, by
    exercise, and one note per notebook that could not be read (its exercise stays a stub)."""
    (root / week).mkdir(parents=True, exist_ok=True)
    (root / "__init__.py").write_text('"""Exercises written out from notebooks."""\n')
    modules, notes, stubs = {}, [], []
    for path in sorted((SOLUTIONS_DIR / week).glob("*.py")):
        notebook = notebooks / f"{path.stem}.ipynb"
        if BEGIN not in path.read_text():
            shutil.copyfile(path, root / week / path.name)  # a given file: nothing to clear
        elif not notebook.exists():
            stubs.append(path.name)
        else:
            try:
                module = module_source(nbformat.read(notebook, as_version=4))
            except Exception as error:  # noqa: BLE001  (a damaged notebook must not stop the others' grading)
                notes.append(f"{notebook.name} could not be read ({type(error).__name__}: {error}); graded as a stub")
                stubs.append(path.name)
                continue
            (root / week / path.name).write_text(module.source)
            modules[path.stem] = module
    if stubs:
        from shared import release  # imports nbgrader: only when a stub is needed

        released = release.generate(SOLUTIONS_DIR / week)
        for name in stubs:
            (root / week / name).write_bytes(released[name])
    return modules, notes
