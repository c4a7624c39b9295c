"""The lesson notebooks: stored with the outputs of their own code, every figure drawn, and runnable top to bottom
offline, quickly (fast mode, every run) and as a learner runs them (learner mode, marked slow, within a budget)."""
from __future__ import annotations

import functools
import subprocess
import sys

import nbformat
import pytest

from shared.lessons import code_sha256, lesson_paths, problems, run_lesson, stale

LESSONS = lesson_paths()
IDS = [path.stem for path in LESSONS]
FAST_BUDGET_S = 150
# Learner mode on this workbook's 2-core CPU, measured by `workbook lessons` (the seconds are stored in each
# notebook's metadata): the budget is about twice the measured time, so a busy CI machine still passes.
# On a slower CPU the budgets stretch by how much slower it is, as the autograder's do (shared/grading/budget.py):
# on an AVX2-only 2-core EPYC, 2.1x slower by that calibration, week 2 took 448 s (2026-12-01).
LEARNER_BUDGET_S = {"week1": 60, "week2": 300, "week3": 120, "week4": 90}  # measured 7, 130, 39, 17 s
MAX_SLOWDOWN = 4.0   # beyond this the machine is not one the lessons are meant for: the budget stops stretching


@functools.cache
def machine_slowdown() -> float:
    """How much slower than the reference machine this one is (>= 1), by the autograder's calibration, measured
    in a fresh process (torch's thread pool stays out of this one)."""
    code = "from shared.grading.budget import calibrate; print(calibrate().wall)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return min(MAX_SLOWDOWN, float(done.stdout.split()[-1]))


def test_every_week_has_a_lesson():
    assert IDS == ["week1", "week2", "week3", "week4"]


@pytest.mark.parametrize("path", LESSONS, ids=IDS)
def test_stored_outputs_are_those_of_the_stored_code(path):
    reason = stale(path)
    assert reason is None, reason
    notebook = nbformat.read(path, as_version=4)
    found = problems(notebook)
    assert not found, f"{path.name} is stored with: " + "; ".join(found)
    assert notebook.metadata["workbook"]["mode"] == "learner"


def test_the_checks_can_fail(tmp_path):
    """An edited code cell makes the stored outputs stale; a plotting cell without a PNG is named."""
    notebook = nbformat.read(LESSONS[0], as_version=4)
    plotting = next(i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code" and "plt." in cell.source)
    notebook.cells[plotting].source += "\n# edited"
    path = tmp_path / "week1.ipynb"
    nbformat.write(notebook, path)
    assert "changed since its outputs were made" in stale(path)
    notebook.metadata.pop("workbook", None)
    nbformat.write(notebook, path)
    assert "stored without outputs" in stale(path)
    notebook.cells[plotting].outputs = []
    assert f"cell {plotting} plots but shows no figure" in "; ".join(problems(notebook))
    notebook.cells[plotting].outputs = [nbformat.v4.new_output("error", ename="ValueError", evalue="x", traceback=[])]
    assert f"cell {plotting} raised ValueError" in "; ".join(problems(notebook))
    assert code_sha256(notebook) != code_sha256(nbformat.read(LESSONS[0], as_version=4))


@pytest.mark.timeout(FAST_BUDGET_S + 120)
@pytest.mark.parametrize("path", LESSONS, ids=IDS)
def test_lesson_runs_in_fast_mode_with_every_figure(path):
    run = run_lesson(path, fast=True, timeout_s=FAST_BUDGET_S)
    assert not problems(run.notebook), problems(run.notebook)
    assert run.seconds < FAST_BUDGET_S, f"{path.name} took {run.seconds:.0f} s in fast mode (budget {FAST_BUDGET_S} s)"


@pytest.mark.slow
@pytest.mark.timeout(max(LEARNER_BUDGET_S.values()) * MAX_SLOWDOWN + 180)
@pytest.mark.parametrize("path", LESSONS, ids=IDS)
def test_lesson_runs_in_learner_mode_within_its_budget(path):
    slowdown = machine_slowdown()
    budget = LEARNER_BUDGET_S[path.stem] * slowdown
    run = run_lesson(path, fast=False, timeout_s=int(budget))
    assert not problems(run.notebook), problems(run.notebook)
    assert run.seconds < budget, (f"{path.name} took {run.seconds:.0f} s as a learner runs it (budget "
                                  f"{LEARNER_BUDGET_S[path.stem]} s x {slowdown:.2f} for this machine = {budget:.0f} s)")
