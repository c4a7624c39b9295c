"""The autograder's pytest plugin: target selection, points, statuses, a scoreboard and grades as JSON.

Loaded by `autograder/conftest.py`. Each test is worth `@pytest.mark.points(n)` (1 by default) and ends in one
of three statuses:
- "passed";
- "not started": it died on a stub's `raise NotImplementedError()`;
- "failing": anything else, with the message saying what was expected and what came back.
An exercise module is "passed" when all its tests pass, "not started" when none was started, else "failing".
"""
from __future__ import annotations

import json
import os
import random
import socket
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from shared import exercises as target
from shared.atomic import write_text
from shared.paths import REPO_ROOT

DEFAULT_TIMEOUT_S = 60  # per test; an infinite loop in learner code fails that test only
DEFAULT_GRADES_JSON = REPO_ROOT / ".workbook" / "grades.json"
NOT_STARTED, FAILING, PASSED = "not started", "failing", "passed"


@dataclass
class TestGrade:
    id: str
    week: str
    exercise: str
    points_earned: float
    points_possible: float
    status: str
    message: str


def pytest_addoption(parser):
    group = parser.getgroup("workbook")
    group.addoption("--solutions", action="store_true", help="grade solutions/ instead of weeks/")
    group.addoption("--grades-json", default=None, help=f"where to write the grades (default {DEFAULT_GRADES_JSON})")


def pytest_configure(config):
    if config.getoption("--solutions"):
        os.environ[target.ENV_VAR] = "solutions"
    config.addinivalue_line("markers", "points(n): how many points the test is worth (default 1)")
    # Keras warns when a Functional model's input is passed positionally; it is harmless and only clutters output.
    config.addinivalue_line("filterwarnings", "ignore:The structure of `inputs` doesn't match:UserWarning")
    if config.getoption("timeout", None) in (None, 0) and not config.getini("timeout"):
        config.option.timeout = DEFAULT_TIMEOUT_S


# ---- isolation: seeds and no network ---------------------------------------------------------------------------

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0", ""}


def _guarded_connect(original):
    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and host not in _LOCAL_HOSTS and not str(host).startswith("127."):
            raise OSError(f"network access is disabled in the autograder (tried to connect to {address!r})")
        return original(self, address)

    return connect


@pytest.fixture(autouse=True)
def _workbook_isolation(monkeypatch):
    """Every test starts from the same seeds and cannot reach the network."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect(socket.socket.connect))
    random.seed(0)
    import numpy as np

    np.random.seed(0)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(0)
    if "keras" in sys.modules:
        sys.modules["keras"].utils.set_random_seed(0)
    yield


# ---- statuses ---------------------------------------------------------------------------------------------------

def _week_and_exercise(item) -> tuple[str, str]:
    path = Path(str(item.fspath))
    name = path.stem.removeprefix("test_")
    return path.parent.name, name


def _stub_location(excinfo) -> str:
    root = target.target_root()
    for entry in reversed(excinfo.traceback):
        path = Path(str(entry.path))
        if root in path.resolve().parents:
            return f"{path.relative_to(REPO_ROOT) if REPO_ROOT in path.parents else path}:{entry.lineno + 1}"
    return "the exercise module"


def _first_line(report) -> str:
    if report.passed:
        return ""
    text = getattr(report.longrepr, "reprcrash", None)
    message = text.message if text is not None else str(report.longrepr)
    message = message.strip().removeprefix("Failed: ")
    return message.splitlines()[0] if message else "failed"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("points")
    report.workbook_points = marker.args[0] if marker else 1
    report.workbook_week, report.workbook_exercise = _week_and_exercise(item)
    report.workbook_status = PASSED if report.passed else FAILING
    if call.excinfo is None or report.passed:
        return
    if call.excinfo.errisinstance(NotImplementedError):
        report.workbook_status = NOT_STARTED
        report.longrepr = f"not started: {_stub_location(call.excinfo)} still raises NotImplementedError"
    elif call.excinfo.typename == "Failed" and str(call.excinfo.value).startswith("Timeout"):
        budget = item.get_closest_marker("timeout")
        seconds = budget.args[0] if budget else item.config.option.timeout
        report.longrepr = (
            f"took longer than this test's {seconds} s budget — look for an infinite loop, or far more work "
            f"than the exercise asks for"
        )


def pytest_runtest_logreport(report):
    # One grade per test: from its call, or from a setup that failed before the call.
    if not hasattr(report, "workbook_status"):
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        earned = report.workbook_points if report.passed else 0
        _GRADES.append(TestGrade(report.nodeid, report.workbook_week, report.workbook_exercise, earned,
                                 report.workbook_points, report.workbook_status, _first_line(report)))


_GRADES: list[TestGrade] = []


def pytest_report_teststatus(report, config):
    if getattr(report, "workbook_status", None) == NOT_STARTED and report.when == "call":
        return "failed", "N", ("NOT STARTED", {"yellow": True})
    return None


# ---- scoreboard and JSON ----------------------------------------------------------------------------------------

def _exercise_status(grades: list[TestGrade]) -> str:
    statuses = {g.status for g in grades}
    if statuses == {PASSED}:
        return PASSED
    if statuses == {NOT_STARTED}:
        return NOT_STARTED
    return FAILING


def summarise(grades: list[TestGrade]) -> dict:
    weeks: dict = defaultdict(lambda: defaultdict(list))
    for grade in grades:
        weeks[grade.week][grade.exercise].append(grade)
    summary = {}
    for week, exercises in sorted(weeks.items()):
        rows = {
            name: {
                "status": _exercise_status(tests),
                "points_earned": sum(t.points_earned for t in tests),
                "points_possible": sum(t.points_possible for t in tests),
            }
            for name, tests in exercises.items()
        }
        summary[week] = {
            "points_earned": sum(r["points_earned"] for r in rows.values()),
            "points_possible": sum(r["points_possible"] for r in rows.values()),
            "exercises": rows,
        }
    return summary


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    grades = _GRADES
    if not grades:
        return
    summary = summarise(grades)
    earned = sum(w["points_earned"] for w in summary.values())
    possible = sum(w["points_possible"] for w in summary.values())
    write = terminalreporter.write_line
    terminalreporter.section(f"workbook scoreboard: {target.target_name()}/", sep="=", bold=True)
    marks = {PASSED: "✓", FAILING: "✗", NOT_STARTED: "·"}
    colours = {PASSED: {"green": True}, FAILING: {"red": True}, NOT_STARTED: {"yellow": True}}
    for week, data in summary.items():
        write(f"{week:<34}{_points(data['points_earned'], data['points_possible']):>12}", bold=True)
        for name, row in data["exercises"].items():
            line = f"  {marks[row['status']]} {name:<24}{row['status']:<12}"
            write(f"{line}{_points(row['points_earned'], row['points_possible']):>8}", **colours[row["status"]])
            for grade in grades:
                if grade.week == week and grade.exercise == name and grade.status == FAILING:
                    write(f"      ✗ {grade.id.split('::')[-1]}: {grade.message}", red=True)
    percent = 100 * earned / possible if possible else 0
    write(f"{'TOTAL':<34}{_points(earned, possible):>12}  ({percent:.0f}%)", bold=True)
    path = Path(config.getoption("--grades-json") or DEFAULT_GRADES_JSON)
    write_grades(path, grades, summary)
    write(f"grades written to {path}")


def _points(earned: float, possible: float) -> str:
    return f"{earned:g}/{possible:g}"


def write_grades(path: Path, grades: list[TestGrade], summary: dict) -> None:
    payload = {
        "target": target.target_name(),
        "target_path": str(target.target_root()),
        "points_earned": sum(g.points_earned for g in grades),
        "points_possible": sum(g.points_possible for g in grades),
        "weeks": summary,
        "tests": [asdict(g) for g in grades],
    }
    write_text(path, json.dumps(payload, indent=2))
