"""The nbgrader course made from solutions/ (`workbook nbgrader`), driven by the real nbgrader CLI and its SQLite
gradebook in a temporary course directory. Week 1 goes end to end; the other weeks export and generate."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from shared.course.tree import Module, module_source
from shared.grading.runner import run_tests, exercise_tests
from shared.paths import REPO_ROOT, SOLUTIONS_DIR

WEEKS = sorted(p.name for p in (REPO_ROOT / "autograder").glob("week*") if p.is_dir())
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
# A typical bug: the textbook softmax, without subtracting the maximum (overflows for logits around 1000).
BUG = ("shifted = logits - logits.max(dim=dim, keepdim=True).values", "shifted = logits")


def _env() -> dict:
    bin_dir = str(Path(sys.executable).parent)  # nbgrader runs `alembic` from the environment's bin/
    return {**os.environ, "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
            "KERAS_BACKEND": "tensorflow"}


def _run(command: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{(done.stdout + done.stderr)[-4000:]}"
    return done


def _nbgrader(*args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, timeout=timeout)


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """`workbook nbgrader DIR`, then `nbgrader generate_assignment` for every week."""
    root = tmp_path_factory.mktemp("course")
    start = time.perf_counter()
    export = _run([sys.executable, "-m", "shared.cli", "nbgrader", str(root)], cwd=REPO_ROOT)
    middle = time.perf_counter()
    _nbgrader("generate_assignment", "week*", cwd=root)  # every week (nbgrader expands the pattern)
    print(f"export {middle - start:.0f} s, generate_assignment of {len(WEEKS)} weeks {time.perf_counter() - middle:.0f} s")
    (root / "export.txt").write_text(export.stdout)
    return root


def _gradebook(root: Path):
    from nbgrader.api import Gradebook

    return Gradebook(f"sqlite:///{root / 'gradebook.db'}")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_every_week_exports_and_generates(course):
    assert (course / "nbgrader_config.py").exists()
    for week in WEEKS:
        sources = sorted(p.name for p in (course / "source" / week).glob("*.ipynb"))
        released = sorted(p.name for p in (course / "release" / week).glob("*.ipynb"))
        exercises = sorted(f"{p.stem.removeprefix('test_')}.ipynb" for p in (REPO_ROOT / "autograder" / week).glob("test_*.py"))
        assert sources == released == exercises, week
    # The gradebook's maximum for each week is what the export announced from the autograder's points markers.
    announced = {line.split(":")[0]: float(line.split(" points")[0].split(", ")[-1])
                 for line in (course / "export.txt").read_text().splitlines() if line.startswith("week")}
    with _gradebook(course) as gradebook:
        maxima = {assignment.name: assignment.max_score for assignment in gradebook.assignments}
    assert maxima == announced and set(maxima) == set(WEEKS), (maxima, announced)


def _secret_lines(source: str) -> set[str]:
    """Lines only found inside solution regions (a parser independent of nbgrader's)."""
    inside, outside, in_region = set(), set(), False
    for line in source.splitlines():
        if MARKERS[0] in line:
            in_region = True
        elif MARKERS[1] in line:
            in_region = False
        else:
            (inside if in_region else outside).add(line.strip())
    return {line for line in inside - outside if line and not line.startswith("#")}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_student_notebooks_hold_no_solution_text(course):
    checked = 0
    for path in sorted((course / "release").glob("week*/*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        text = "\n".join(cell.source for cell in notebook.cells)
        assert not any(marker in text for marker in MARKERS), path
        lines = {line.strip() for line in text.splitlines()}
        leaks = _secret_lines((SOLUTIONS_DIR / path.parent.name / f"{path.stem}.py").read_text()) & lines
        assert not leaks, f"{path.name} shows solution lines: {sorted(leaks)[:5]}"
        solutions = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("solution")]
        assert solutions and all("raise NotImplementedError()" in c.source for c in solutions), path
        checked += 1
    assert checked >= 20


def test_a_notebook_becomes_its_module():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("__package__ = 'x'", metadata={"nbgrader": {"grade_id": "workbook-setup",
                                                                            "locked": True}}),
        nbformat.v4.new_code_cell("import math\n%matplotlib inline"),
        nbformat.v4.new_code_cell("from __future__ import annotations\n\ndef f(x):\n    return math.sqrt(x)"),
        nbformat.v4.new_code_cell("check('week1', 'x', 'test_f')",
                                  metadata={"nbgrader": {"grade": True, "solution": False, "points": 1}}),
    ])
    module = module_source(notebook)
    assert isinstance(module, Module)
    lines = module.source.splitlines()
    assert lines[0] == "from __future__ import annotations"  # a future import must come first
    assert "__package__" not in module.source and "check(" not in module.source
    assert "# %matplotlib inline" in lines
    compile(module.source, "module.py", "exec")
    assert module.where(lines.index("    return math.sqrt(x)") + 1) == "line 4 of the cell of `f`"


def _copy_notebooks(names: list[str], source: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(source / f"{name}.ipynb", dest / f"{name}.ipynb")


def _with_answers(release: Path, source: Path, edit=None):
    """A student's notebook: the released one with each solution cell answered (the reference, or `edit` of it)."""
    notebook, answers = nbformat.read(release, as_version=4), nbformat.read(source, as_version=4)
    by_id = {c.metadata["nbgrader"]["grade_id"]: c.source for c in answers.cells
             if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            answer = by_id[meta["grade_id"]]
            cell.source = edit(answer) if edit else answer
    return notebook


def _scores(root: Path, student: str) -> dict[str, float]:
    with _gradebook(root) as gradebook:
        return {nb.name: nb.score for nb in gradebook.find_submission("week1", student).notebooks}


def _pytest_points(target: Path | str, tests: list[Path], tmp: Path) -> dict[str, float]:
    run = run_tests(tests, target=target, grades_json=tmp / "pytest-grades.json")
    assert run.grades, run.output[-3000:]
    return {name: row["points_earned"] for name, row in run.grades["weeks"]["week1"]["exercises"].items()}


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_week1_end_to_end_matches_pytest_autograder(course, tmp_path):
    """Three students through generate_assignment, autograde (real gradebook) and generate_feedback: the reference
    gets full marks, the untouched release 0, a typical bug the points `pytest autograder` gives the same code."""
    source, release, submitted = course / "source" / "week1", course / "release" / "week1", course / "submitted"
    exercises = sorted(p.stem for p in source.glob("*.ipynb"))
    _copy_notebooks(exercises, source, submitted / "reference" / "week1")
    _copy_notebooks(exercises, release, submitted / "untouched" / "week1")
    buggy = _with_answers(release / "activations.ipynb", source / "activations.ipynb",
                          edit=lambda answer: answer.replace(*BUG))
    assert any(BUG[1] in c.source and BUG[0] not in c.source for c in buggy.cells)
    (submitted / "one_bug" / "week1").mkdir(parents=True)
    nbformat.write(buggy, submitted / "one_bug" / "week1" / "activations.ipynb")

    start = time.perf_counter()
    _nbgrader("autograde", "week1", cwd=course, timeout=1500)
    autograde_s = time.perf_counter() - start
    _nbgrader("generate_feedback", "week1", cwd=course)
    print(f"autograde of 13 notebooks: {autograde_s:.0f} s, feedback: {time.perf_counter() - start - autograde_s:.0f} s")

    reference = _pytest_points("solutions", [REPO_ROOT / "autograder" / "week1"], tmp_path)
    assert _scores(course, "reference") == reference and sum(reference.values()) > 0
    assert set(_scores(course, "untouched").values()) == {0.0}
    tree = tmp_path / "one_bug"  # the same code as a tree for `pytest autograder`, made without the notebooks
    shutil.copytree(SOLUTIONS_DIR / "week1", tree / "week1", ignore=shutil.ignore_patterns("__pycache__"))
    (tree / "__init__.py").write_text("")
    activations = tree / "week1" / "activations.py"
    activations.write_text(activations.read_text().replace(*BUG))
    expected = _pytest_points(tree, [exercise_tests("week1", "activations")], tmp_path)["activations"]
    assert 0 < expected < reference["activations"]
    assert _scores(course, "one_bug")["activations"] == expected

    for student in ("reference", "untouched", "one_bug"):
        pages = sorted(p.stem for p in (course / "feedback" / student / "week1").glob("*.html"))
        assert pages == (["activations"] if student == "one_bug" else exercises), student
    page = (course / "feedback" / "one_bug" / "week1" / "activations.html").read_text()
    assert f"Score: {expected:.1f} / {reference['activations']:.1f}" in page
    assert "softmax of logits around +-1000" in page  # the autograder's own message reaches the student
    (tmp_path / "points.json").write_text(json.dumps({"reference": reference, "one_bug": expected}))


HIDDEN = '''"""Hidden tests: kept by the instructor outside the workbook, with no conftest.py."""
import pytest
import torch

from shared.grading.checks import expect_close
from shared.grading.target import exercise

activations = exercise("week1", "activations")


@pytest.mark.points(2)
def test_softmax_of_huge_logits():
    expect_close("softmax([[1000, 1000]])", activations.softmax(torch.tensor([[1000.0, 1000.0]])),
                 torch.tensor([[0.5, 0.5]]), atol=1e-6)
'''


def test_check_grades_a_notebook_with_hidden_tests(tmp_path, monkeypatch):
    """check() outside nbgrader: a test file kept elsewhere, full marks for the reference, an error for a bug."""
    from shared.course.check import TestsFailed, check
    from shared.course.export import exercise_notebook

    hidden = tmp_path / "hidden" / "week1" / "test_activations.py"
    hidden.parent.mkdir(parents=True)
    hidden.write_text(HIDDEN)
    folder = tmp_path / "week1"
    folder.mkdir()
    notebook = exercise_notebook("week1", "activations", tests=[])
    nbformat.write(notebook, folder / "activations.ipynb")
    monkeypatch.chdir(folder)
    assert check("week1", "activations", "test_softmax_of_huge_logits", tests_file=hidden) is None
    for cell in notebook.cells:
        cell.source = cell.source.replace(*BUG)
    nbformat.write(notebook, folder / "activations.ipynb")
    with pytest.raises(TestsFailed, match=r"✗ test_softmax_of_huge_logits\s+failing\s+0/2"):
        check("week1", "activations", "test_softmax_of_huge_logits", tests_file=hidden)


def test_cli_refuses_bad_arguments_in_one_line(tmp_path, capsys):
    from shared.cli import main

    a_file = tmp_path / "course.txt"
    a_file.write_text("")
    assert main(["nbgrader", str(tmp_path / "course"), "--weeks", "week9"]) == 2
    assert main(["nbgrader", str(a_file)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and "week9" in errors[0] and "is a file" in errors[1], errors
    assert not (tmp_path / "course").exists()
