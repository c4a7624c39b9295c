"""`workbook nbgrader DIR`: an nbgrader course directory made from solutions/, the single source.

Each exercise `solutions/weekN/<exercise>.py` becomes `source/weekN/<exercise>.ipynb`:
- its docstring becomes the notebook's introduction (markdown);
- its code is split into cells where jupytext splits it when a learner opens the .py as a notebook; a cell holding
  a solution region (the markers of AUTHORING.md) becomes an nbgrader solution cell, so `nbgrader
  generate_assignment` clears it exactly as `workbook release` clears the .py;
- the `if __name__ == "__main__":` block is left out (a notebook is not run as a script);
- if the exercise imports its week's other exercises (`from .backprop import ...`), a read-only set-up cell first
  makes those imports reach the student's other notebooks (check.sibling_package);
- one autograded test cell per autograder test function, worth what `pytest autograder` gives it (points.py), calls
  the workbook's own test through check.check.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import jupytext
import nbformat

from shared.atomic import write_text
from shared.course.points import TestPoints, collect
from shared.course.tree import SETUP_ID
from shared.notebook_cells import MAIN_GUARD
from shared.paths import REPO_ROOT, SOLUTIONS_DIR
from shared.release import BEGIN

COURSE_ID = "month04-deep-learning"
SECTION = re.compile(r"^-{2,}\s*(.*?)\s*-*$")  # "# ---- softmax and cross-entropy -----" comments
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}

CONFIG = '''"""nbgrader configuration of the workbook's course, written by `workbook nbgrader` (edit it freely: it is not
overwritten). The notebooks' test cells import the workbook (`shared`, `autograder/`): run nbgrader, and the
students' kernels, in the workbook's environment."""
c = get_config()  # noqa: F821  (nbgrader provides it)

c.CourseDirectory.course_id = "{course_id}"
# The first test cell of a notebook runs that exercise's autograder tests (a fresh pytest process, about 10 s on
# a quiet 2-core CPU, a few minutes on a loaded one); nbgrader's default limit is 30 s per cell.
c.Execute.timeout = 900
'''

SETUP_SOURCE = '''# Set-up: lets `from .x import y` below import your other {week} notebooks (as saved), as the autograder does.
from shared.course.check import sibling_package
__package__ = sibling_package("{week}")'''

TEST_SOURCE = '''# autograder/{week}/test_{exercise}.py::{test}{cases}
from shared.course.check import check
check("{week}", "{exercise}", "{test}")'''

RUN_THE_CHECKS = "Run the checks with `pytest"  # the docstring's line for weeks/; here the tests are cells
IN_THIS_NOTEBOOK = ("*In this notebook:* fill in each `# YOUR CODE HERE` (delete the `raise NotImplementedError()`). "
                    "The autograder tests are the cells at the end; commands above that name `solutions.` or "
                    "`weeks.` run the workbook's own files, not this notebook.")

TESTS_INTRO = """## Autograder tests ({points:g} points)

Each cell below runs one of the workbook's autograder tests (`autograder/{week}/test_{exercise}.py`) on the code of
this notebook and of your other {week} notebooks **as saved**: save, then *Validate*. For every case it shows
✓ passed, ✗ failing (what was expected, what came back) or · not started, and the points it earned."""


def _nbgrader(**fields) -> dict:
    return {"schema_version": 3, "grade": False, "solution": False, "locked": False, "task": False, **fields}


def _split_docstring(text: str) -> tuple[str, str]:
    """(the module's docstring, the source without it)."""
    tree = ast.parse(text)
    first = tree.body[0] if tree.body else None
    if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)):
        return "", text
    lines = text.splitlines(keepends=True)
    return ast.get_docstring(tree) or "", "".join(lines[:first.lineno - 1] + lines[first.end_lineno:])


def _introduction(docstring: str) -> str:
    title, _, body = docstring.partition("\n")
    body = "\n".join(line for line in body.splitlines() if not line.startswith(RUN_THE_CHECKS))
    return f"# {title.strip()}\n\n{body.strip()}\n\n{IN_THIS_NOTEBOOK}"


def _defined_name(source: str) -> str | None:
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return None
    return next((node.name for node in body if isinstance(node, (ast.FunctionDef, ast.ClassDef))), None)


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    taken.add(candidate)
    return candidate


def _is_plain(cell) -> bool:
    """Imports and constants: short cells that read better together."""
    return cell.cell_type == "code" and BEGIN not in cell.source and _defined_name(cell.source) is None


def _code_cells(code: str, taken_ids: set[str]) -> list:
    """The module's code as notebook cells: solution cells where a solution region is, no `__main__` block."""
    cells = []
    for cell in jupytext.reads(code, fmt="py:light").cells:
        cell.metadata = {}
        if cell.cell_type == "markdown":
            section = SECTION.match(cell.source.strip())
            cell.source = f"## {section.group(1)}" if section and section.group(1) else cell.source
        elif MAIN_GUARD.match(cell.source):
            continue
        elif BEGIN in cell.source:
            grade_id = _unique(_defined_name(cell.source) or "solution", taken_ids)
            cell.metadata["nbgrader"] = _nbgrader(solution=True, grade_id=grade_id)
        elif cells and _is_plain(cell) and _is_plain(cells[-1]):
            cells[-1].source += "\n\n" + cell.source
            continue
        cells.append(cell)
    return cells


def _imports_its_week(code: str) -> bool:
    return any(isinstance(node, ast.ImportFrom) and node.level > 0 for node in ast.walk(ast.parse(code)))


def exercise_notebook(week: str, exercise: str, tests: list[TestPoints]):
    """The nbgrader source notebook of `solutions/<week>/<exercise>.py`, graded by `tests`."""
    docstring, code = _split_docstring((SOLUTIONS_DIR / week / f"{exercise}.py").read_text())
    taken_ids = {SETUP_ID}
    cells = [nbformat.v4.new_markdown_cell(_introduction(docstring))] if docstring else []
    if _imports_its_week(code):
        cells.append(nbformat.v4.new_code_cell(SETUP_SOURCE.format(week=week),
                                               metadata={"nbgrader": _nbgrader(locked=True, grade_id=SETUP_ID)}))
    cells += _code_cells(code, taken_ids)
    cells.append(nbformat.v4.new_markdown_cell(TESTS_INTRO.format(
        week=week, exercise=exercise, points=sum(t.points for t in tests))))
    for test in tests:
        cases = f" ({test.cases} cases)" if test.cases > 1 else ""
        source = TEST_SOURCE.format(week=week, exercise=exercise, test=test.name, cases=cases)
        grade_id = _unique(test.name, taken_ids)
        cells.append(nbformat.v4.new_code_cell(
            source, metadata={"nbgrader": _nbgrader(grade=True, locked=True, grade_id=grade_id, points=test.points)}))
    for number, cell in enumerate(cells):
        cell.id = f"cell-{number}"  # stable ids: exporting twice writes the same files
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    return notebook


def export_course(dest: Path, weeks: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Write `dest/nbgrader_config.py` (if absent) and `dest/source/<week>/<exercise>.ipynb`; returns
    {week: {exercise: points}}."""
    autograder = REPO_ROOT / "autograder"
    paths = [autograder / week for week in weeks] if weeks else [autograder]
    points = collect(paths)
    dest.mkdir(parents=True, exist_ok=True)
    config = dest / "nbgrader_config.py"
    if not config.exists():
        write_text(config, CONFIG.format(course_id=COURSE_ID))
    summary: dict[str, dict[str, float]] = {}
    for (week, exercise), tests in sorted(points.items()):
        if not (SOLUTIONS_DIR / week / f"{exercise}.py").exists():
            continue
        path = dest / "source" / week / f"{exercise}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, nbformat.writes(exercise_notebook(week, exercise, tests)) + "\n")
        summary.setdefault(week, {})[exercise] = sum(t.points for t in tests)
    return summary
