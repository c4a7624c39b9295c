"""The lesson notebooks: stored with the outputs of their own code, every figure drawn, and runnable top to bottom
offline, quickly (fast mode, every run) and as a learner runs them (learner mode, marked slow, within a budget)."""
from __future__ import annotations

import nbformat
import pytest

from shared.lessons import code_sha256, lesson_paths, problems, run_lesson, stale

LESSONS = lesson_paths()
IDS = [path.stem for path in LESSONS]
FAST_BUDGET_S = 150
# Learner mode on this workbook's 2-core CPU, measured by `workbook lessons` (the seconds are stored in each
# notebook's metadata): the budget is about twice the measured time, so a busy CI machine still passes.
LEARNER_BUDGET_S = {"week1": 60, "week2": 300, "week3": 120, "week4": 90}  # measured 7, 130, 39, 17 s


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
@pytest.mark.timeout(max(LEARNER_BUDGET_S.values()) + 180)
@pytest.mark.parametrize("path", LESSONS, ids=IDS)
def test_lesson_runs_in_learner_mode_within_its_budget(path):
    budget = LEARNER_BUDGET_S[path.stem]
    run = run_lesson(path, fast=False, timeout_s=budget)
    assert not problems(run.notebook), problems(run.notebook)
    assert run.seconds < budget, f"{path.name} took {run.seconds:.0f} s as a learner runs it (budget {budget} s)"
