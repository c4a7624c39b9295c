"""The autograder's pytest plugin: target selection, points, statuses, isolation, the scoreboard and the grades.

Loaded by `autograder/conftest.py` (or `-p shared.grading.plugin` for tests kept elsewhere). Each test is worth
`@pytest.mark.points(n)` (1 by default); its budget is `@pytest.mark.timeout(s)` (budget.py). Each test file
runs in its own grading process (isolation.py, child.py); this process collects, schedules, keeps the score
(statuses: grades.py), prints the scoreboard (scoreboard.py) and writes the grades, whatever the learner's code
does.
"""
from __future__ import annotations

import hashlib
import random
import socket
import sys
from pathlib import Path

import pytest

from shared import exercises as target
from shared.grading import grades as grading
from shared.grading import isolation, scoreboard
from shared.grading.budget import BudgetExceeded, Scale, Timer
from shared.grading.child import Settings, budget_of, exercise_of
from shared.grading.grades import CRASHED, FAILING, FLAGGED, NOT_STARTED, PASSED, TIMED_OUT, TestGrade
from shared.paths import REPO_ROOT

DEFAULT_GRADES_JSON = REPO_ROOT / ".workbook" / "grades.json"


def pytest_addoption(parser):
    group = parser.getgroup("workbook")
    group.addoption("--solutions", action="store_true", help="grade solutions/ instead of weeks/")
    group.addoption("--grades-json", default=None, help=f"where to write the grades (default {DEFAULT_GRADES_JSON})")
    group.addoption("--workbook-isolation", dest="workbook_isolation", default="auto",
                    choices=("auto", "fork", "spawn", "none"),
                    help="how each test file is isolated: a forked process (Linux default), a fresh process "
                         "(default elsewhere), or none (in this process; chosen with --pdb)")
    group.addoption("--workbook-jobs", dest="workbook_jobs", type=int, default=0,
                    help="test files graded at the same time (default: 2 on a machine with 2+ cores)")
    group.addoption("--workbook-time-scale", dest="workbook_time_scale", type=float, default=1.0,
                    help="multiply every test's time budget (for testing the grader itself)")
    group.addoption("--workbook-child", dest="workbook_child", default=None, help="(internal) grade as a child")


class _State:
    """What this pytest process learns during the run."""

    def __init__(self):
        self.grades: list[TestGrade] = []
        self.collected: set[str] = set()
        self.flags: dict[str, str] = {}
        self.interrupted = False
        self.written = None
        self.grades_digest = None


_STATE = _State()


def pytest_configure(config):
    if config.getoption("--solutions"):
        import os

        os.environ[target.ENV_VAR] = "solutions"
    target.pin_target()
    config.addinivalue_line("markers", "points(n): how many points the test is worth (default 1)")
    config.addinivalue_line("markers", "timeout(s): the test's budget in CPU-seconds of the reference machine")
    # Keras warns when a Functional model's input is passed positionally; it is harmless and only clutters output.
    config.addinivalue_line("filterwarnings", "ignore:The structure of `inputs` doesn't match:UserWarning")
    timeout_plugin = config.pluginmanager.get_plugin("timeout")
    if timeout_plugin is not None:  # budgets are ours (budget.py): pytest-timeout's wall clock would punish load
        config.pluginmanager.unregister(timeout_plugin)
    path = _grades_path(config)
    _STATE.grades_digest = _digest(path)


def _grades_path(config) -> Path:
    return Path(config.getoption("--grades-json") or DEFAULT_GRADES_JSON)


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


# ---- the run: grading processes, or in this process ------------------------------------------------------------

def pytest_deselected(items):
    _STATE.collected |= {item.nodeid for item in items}


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    _STATE.collected |= {item.nodeid for item in session.items}
    child = session.config.getoption("workbook_child")
    if child:  # this process is a spawned grading process (isolation.SpawnedProcess)
        from shared.grading.child import run_spawned, exit_now
        import json

        raw = json.loads(Path(child).read_text())
        run_spawned(session, Settings(Scale(**raw.pop("scale")), **raw))
        exit_now(0)
    mode = isolation.choose_mode(session.config)
    if mode == "none" or session.config.option.collectonly or not session.items:
        return None  # pytest's own loop; budgets from pytest_runtest_protocol below
    if session.testsfailed and not session.config.option.continue_on_collection_errors:
        return None  # pytest stops on collection errors
    protected = (str(_grades_path(session.config)), str(REPO_ROOT / "autograder"), str(REPO_ROOT / "shared" / "grading"),
                 *{str(Path(str(item.path))) for item in session.items})
    run = isolation.Session(session, mode, isolation.choose_jobs(session.config), protected)
    try:
        run.run()
    except KeyboardInterrupt:
        _STATE.interrupted = True
        raise
    finally:
        _STATE.flags.update(run.flags)
    return True


def _budget(item):
    """Each phase of a test runs under its budget (budget.py), in a grading process and in-process runs alike."""
    from shared.grading import child

    scale = child.SCALE or Scale().times(item.config.getoption("workbook_time_scale"))
    return Timer(budget_of(item), scale)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    with _budget(item):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    with _budget(item):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    with _budget(item):
        yield


# ---- every test: seeds and no network -------------------------------------------------------------------------

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
    """Every test starts from the same seeds, float32, gradients on, and cannot reach the network."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect(socket.socket.connect))
    random.seed(0)
    import numpy as np

    np.random.seed(0)
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        torch.manual_seed(0)
        torch.set_default_dtype(torch.float32)
        torch.set_grad_enabled(True)
    if "keras" in sys.modules:
        sys.modules["keras"].utils.set_random_seed(0)
    yield


# ---- statuses --------------------------------------------------------------------------------------------------

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
    report.workbook_status = PASSED if report.passed else FAILING
    if call.excinfo is None or report.passed:
        return
    if call.excinfo.errisinstance(NotImplementedError):
        report.workbook_status = NOT_STARTED
        report.longrepr = f"not started: {_stub_location(call.excinfo)} still raises NotImplementedError"
    elif call.excinfo.errisinstance(BudgetExceeded):
        report.workbook_status = TIMED_OUT
        report.longrepr = f"timed out: {call.excinfo.value}"


def pytest_runtest_logreport(report):
    # One grade per test: from its call, or from a phase that failed before or after it.
    status = getattr(report, "workbook_status", None)
    if status is None or not (report.when == "call" or report.failed):
        return
    if any(g.id == report.nodeid for g in _STATE.grades):
        if report.failed and report.when == "teardown":
            _downgrade(report)
        return
    item_week, item_exercise = _week_exercise(report.nodeid)
    points = _points_of(report)
    _STATE.grades.append(TestGrade(report.nodeid, item_week, item_exercise, points if report.passed else 0,
                                   points, status, _first_line(report), grading.now(),
                                   getattr(report, "workbook_cpu_s", None), getattr(report, "workbook_wall_s", None)))


def _downgrade(report) -> None:
    for grade in _STATE.grades:
        if grade.id == report.nodeid and grade.status == PASSED:
            grade.points_earned, grade.status, grade.message = 0, FAILING, _first_line(report)


_POINTS: dict[str, float] = {}
_EXERCISES: dict[str, tuple[str, str]] = {}


def pytest_collection_finish(session):
    for item in session.items:  # points come from this process's own view of the markers, not from a report
        marker = item.get_closest_marker("points")
        _POINTS[item.nodeid] = marker.args[0] if marker else 1
        _EXERCISES[item.nodeid] = exercise_of(item)


def _points_of(report) -> float:
    return _POINTS.get(report.nodeid, 1)


def _week_exercise(nodeid: str) -> tuple[str, str]:
    if nodeid in _EXERCISES:
        return _EXERCISES[nodeid]
    path = Path(nodeid.split("::")[0])
    return path.parent.name, path.stem.removeprefix("test_")


def pytest_report_teststatus(report, config):
    status = getattr(report, "workbook_status", None)
    if status == NOT_STARTED and report.when == "call":
        return "not started", "N", ("NOT STARTED", {"yellow": True})  # not in the failures section: once, below
    if status in (CRASHED, TIMED_OUT, FLAGGED) and report.when == "call":
        return "failed", {CRASHED: "C", TIMED_OUT: "T", FLAGGED: "!"}[status], (status.upper(), {"red": True})
    return None


# ---- the end: grades and scoreboard ----------------------------------------------------------------------------

@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if config.getoption("workbook_child") or not _STATE.grades or config.option.collectonly:
        return
    path = _grades_path(config)
    if _digest(path) != _STATE.grades_digest:
        _STATE.flags["grades file"] = f"{path} was changed during the run by something other than the autograder"
    previous = grading.read_previous(path, target.target_name())
    everything = grading.merge(previous, _STATE.grades, _STATE.collected, Path(config.rootpath))
    for test in _STATE.grades:
        if test.status == FLAGGED:
            _STATE.flags.setdefault(f"{test.week}/{test.exercise}", test.message)
    flags = {key: value for key, value in _STATE.flags.items()}
    grading.write(path, everything, target.target_name(), str(target.target_root()), flags)
    _STATE.written = (path, everything)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _STATE.grades or _STATE.written is None:
        return
    path, everything = _STATE.written
    terminalreporter.section(f"{scoreboard.TITLE}: {target.target_name()}/", sep="=", bold=True)
    if "grades file" in _STATE.flags:
        terminalreporter.write_line(f"⚑ {_STATE.flags['grades file']}: it was rewritten from this run's results.",
                                    red=True)
    graded = {(g.week, g.exercise) for g in _STATE.grades}
    unfinished = sorted({pair for pair in _EXERCISES.values() if pair not in graded}) if _STATE.interrupted else []
    scoreboard.render(terminalreporter.write_line, _STATE.grades, everything, target.target_name(), path,
                      _STATE.interrupted, unfinished)
