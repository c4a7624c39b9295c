"""What the cells of a course notebook call: `check()` in each test cell, `sibling_package()` in the set-up cell.

A test cell runs one of the workbook's own autograder tests (all its parametrised cases), never a copy:

    from shared.course.check import check
    check("week1", "activations", "test_softmax_family")

The first test cell writes the student's notebooks out as modules (tree.py), runs the exercise's test file on them
in a fresh pytest process, and keeps the grades; the notebook's other test cells read theirs from those. nbgrader
scores a test cell from its output: an error is 0, a number is partial credit, anything else full marks. So check()
prints the results and returns the points earned when only some cases pass, raises when none does, and writes
nothing to stderr (nbgrader would score that 0).
"""
from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib.util
import io
import re
import shutil
import sys
import tempfile
import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path

from shared.course.tree import Module, notebooks_dir, write_tree
from shared.grading.runner import run_tests, exercise_tests

PACKAGE = "_workbook_notebooks"  # the import name of the notebooks written out for the set-up cell
RUN_LIMIT_S = 600  # under the 900 s per cell of nbgrader_config.py, so that a stopped run still says why
MARKS = {"passed": "✓", "failing": "✗", "not started": "·"}
COLOURS = {"passed": "\x1b[32m", "failing": "\x1b[31m", "not started": "\x1b[33m"}
_RUNS: dict[str, "_Run"] = {}  # digest of (modules, test file) -> its run, for this kernel's life


@dataclass
class _Run:
    grades: dict
    output: str
    root: Path                  # where the modules were written (named in the messages)
    modules: dict[str, Module]  # which lines came from which cell

    def relabel(self, text: str, week: str) -> str:
        """`<root>/week1/backprop.py:48` -> `backprop.ipynb (line 3 of the cell of `mlp_forward`)`."""
        def where(match: re.Match) -> str:
            name, line = match.group(1), match.group(2)
            if not line:
                return f"{name}.ipynb"
            module = self.modules.get(name)
            return f"{name}.ipynb ({module.where(int(line)) if module else 'the unfilled exercise'})"

        return re.sub(re.escape(str(self.root)) + rf"/{week}/(\w+)\.py(?::(\d+))?", where, text)


class TestsFailed(Exception):
    """No point earned. IPython shows `_render_traceback_()` instead of a Python traceback."""
    __test__ = False

    def _render_traceback_(self) -> list[str]:
        return str(self).splitlines()


def _digest(root: Path, tests_file: Path) -> str:
    digest = hashlib.sha256(str(tests_file).encode() + tests_file.read_bytes())
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _run(week: str, exercise: str, tests_file: Path) -> tuple[_Run, list[str]]:
    """The exercise's tests on the notebooks as saved (run once per version of them), and notes for the student."""
    notebooks = notebooks_dir()
    scratch = Path(tempfile.mkdtemp(prefix="workbook-check-"))
    try:
        root = (scratch / "notebooks").resolve()
        modules, notes = write_tree(week, root, notebooks)
        if exercise not in modules:
            notes.append(f"no readable {exercise}.ipynb in {notebooks}: the tests ran on the unfilled exercise")
        key = _digest(root, tests_file)
        if key in _RUNS:
            return _RUNS[key], notes
        run = run_tests([tests_file], target=root, grades_json=scratch / "grades.json", timeout_s=RUN_LIMIT_S)
        _RUNS[key] = _Run(run.grades, run.output, root, modules)  # one run per version, finished or not
        return _RUNS[key], notes
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _lines(cases: list[dict], run: _Run, week: str) -> list[str]:
    width = max(len(case["id"].split("::", 1)[-1]) for case in cases) + 2
    lines = []
    for case in cases:
        name, status = case["id"].split("::", 1)[-1], case["status"]
        lines.append(f"{COLOURS.get(status, '')}{MARKS.get(status, '?')} {name:<{width}}{status:<13}"
                     f"{case['points_earned']:g}/{case['points_possible']:g}\x1b[0m")
        if status != "passed" and case["message"]:
            message = run.relabel(case["message"], week).removeprefix("not started: ")
            lines.append(textwrap.fill(message, width=110, initial_indent="    ", subsequent_indent="    "))
    return lines


def check(week: str, exercise: str, test: str, tests_file: str | Path | None = None) -> float | None:
    """Run the autograder test `test` of `<week>/<exercise>` (or of `tests_file`, e.g. hidden tests) on the
    notebooks; full marks: None, some points: their number, none: TestsFailed."""
    tests_file = Path(tests_file) if tests_file else exercise_tests(week, exercise)
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        run, notes = _run(week, exercise, tests_file)
    cases = [t for t in run.grades.get("tests", []) if t["id"].split("::", 1)[-1].split("[", 1)[0] == test]
    if not cases:
        raise TestsFailed(f"{test}: the autograder gave no result for it ({tests_file.name} did not run to the "
                          f"end). Its output ends with:\n{run.relabel(run.output[-2000:], week)}")
    earned = sum(t["points_earned"] for t in cases)
    possible = sum(t["points_possible"] for t in cases)
    report = "\n".join([*(f"note: {note}" for note in notes), *_lines(cases, run, week),
                        f"{test}: {earned:g}/{possible:g} points"])
    if earned <= 0:
        raise TestsFailed(report)
    print(report)
    return earned if earned < possible else None


def sibling_package(week: str) -> str:
    """For the set-up cell (`__package__ = sibling_package("week1")`): write the week's notebooks out as modules,
    so that `from .backprop import x` in a notebook imports the student's backprop notebook as last saved."""
    root = Path(tempfile.mkdtemp(prefix="workbook-notebooks-"))
    atexit.register(shutil.rmtree, root, True)
    write_tree(week, root, notebooks_dir())
    for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]  # a second run of the set-up cell imports the notebooks as saved now
    spec = importlib.util.spec_from_file_location(PACKAGE, root / "__init__.py", submodule_search_locations=[str(root)])
    package = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = package
    spec.loader.exec_module(package)
    return f"{PACKAGE}.{week}"
