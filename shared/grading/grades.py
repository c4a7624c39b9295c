"""Grades: one entry per test, statuses per exercise, and the JSON file that accumulates them across runs.

Each test ends in one status:
- "passed";
- "not started": it died on a stub's `raise NotImplementedError()`;
- "failing": anything else, with the message saying what was expected and what came back;
- "crashed" / "timed out": the process grading the exercise died or had to be stopped (the reason is given);
- "flagged": the exercise's code replaced what its tests rely on, or used the reference solution.
An exercise is "passed" when all its tests pass, "not started" when none was started, "flagged", "crashed" or
"timed out" when one of its tests is, else "failing".

A run updates the entries of the tests it ran and keeps the others (each entry says when it was graded), so
grading one exercise never erases the rest; entries of another tree (weeks/ vs solutions/) are not mixed in.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

from shared.atomic import write_text

NOT_STARTED, FAILING, PASSED = "not started", "failing", "passed"
CRASHED, TIMED_OUT, FLAGGED = "crashed", "timed out", "flagged"
# The status of an exercise: the first of these that one of its tests has (all passed: passed).
EXERCISE_PRECEDENCE = (FLAGGED, CRASHED, TIMED_OUT, FAILING)
VERSION = 2


@dataclass
class TestGrade:
    __test__ = False  # not a pytest test class
    id: str
    week: str
    exercise: str
    points_earned: float
    points_possible: float
    status: str
    message: str
    graded_at: str = ""
    cpu_s: float | None = None
    wall_s: float | None = None


def now() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def exercise_status(grades: list[TestGrade]) -> str:
    statuses = {g.status for g in grades}
    if statuses == {PASSED}:
        return PASSED
    if statuses == {NOT_STARTED}:
        return NOT_STARTED
    return next((s for s in EXERCISE_PRECEDENCE if s in statuses), FAILING)


def summarise(grades: list[TestGrade]) -> dict:
    weeks: dict = defaultdict(lambda: defaultdict(list))
    for grade in grades:
        weeks[grade.week][grade.exercise].append(grade)
    summary = {}
    for week, exercises in sorted(weeks.items()):
        rows = {
            name: {
                "status": exercise_status(tests),
                "points_earned": sum(t.points_earned for t in tests),
                "points_possible": sum(t.points_possible for t in tests),
                "graded_at": max(t.graded_at for t in tests),
            }
            for name, tests in exercises.items()
        }
        summary[week] = {
            "points_earned": sum(r["points_earned"] for r in rows.values()),
            "points_possible": sum(r["points_possible"] for r in rows.values()),
            "exercises": rows,
        }
    return summary


def read_previous(path: Path, target: str) -> list[TestGrade]:
    """The entries of an earlier run of the same tree; [] if there is none or the file is not ours."""
    try:
        payload = json.loads(path.read_text())
        if payload.get("target") != target or payload.get("version") != VERSION:
            return []
        known = {f.name for f in fields(TestGrade)}
        return [TestGrade(**{k: v for k, v in entry.items() if k in known}) for entry in payload["tests"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []


def merge(previous: list[TestGrade], ran: list[TestGrade], collected: set[str], root: Path) -> list[TestGrade]:
    """This run's entries, plus the earlier entries of tests that did not run this time and still exist: their
    file is still there and, if it was collected this time, they were among its tests."""
    ran_ids = {g.id for g in ran}
    collected_files = {test_id.split("::")[0] for test_id in collected}

    def exists(grade: TestGrade) -> bool:
        file = grade.id.split("::")[0]
        return (root / file).exists() and (file not in collected_files or grade.id in collected)

    kept = [g for g in previous if g.id not in ran_ids and exists(g)]
    return sorted(kept + ran, key=lambda g: (g.week, g.exercise, g.id))


def write(path: Path, grades: list[TestGrade], target: str, target_path: str, flags: dict[str, str]) -> dict:
    payload = {
        "version": VERSION,
        "target": target,
        "target_path": target_path,
        "written_at": now(),
        "points_earned": sum(g.points_earned for g in grades),
        "points_possible": sum(g.points_possible for g in grades),
        "weeks": summarise(grades),
        "flags": flags,
        "tests": [asdict(g) for g in grades],
    }
    write_text(path, json.dumps(payload, indent=2))
    return payload
