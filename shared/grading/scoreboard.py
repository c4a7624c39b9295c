"""The scoreboard `pytest autograder` prints last: per week and exercise the points and a status, one line for
each test that needs attention, and what was not run this time (its earlier grades are kept in the JSON)."""
from __future__ import annotations

from collections import defaultdict

from shared.grading.grades import (CRASHED, FAILING, FLAGGED, NOT_STARTED, PASSED, TIMED_OUT, TestGrade,
                                   summarise)

TITLE = "workbook scoreboard"
MARKS = {PASSED: "✓", FAILING: "✗", NOT_STARTED: "·", CRASHED: "✗", TIMED_OUT: "✗", FLAGGED: "⚑"}
COLOURS = {PASSED: {"green": True}, NOT_STARTED: {"yellow": True}}
MESSAGE_CHARS = 400


def _points(earned: float, possible: float) -> str:
    return f"{earned:g}/{possible:g}"


def _short(message: str) -> str:
    first = message.strip().splitlines()[0] if message.strip() else ""
    return first if len(first) <= MESSAGE_CHARS else first[:MESSAGE_CHARS] + " …"


def _test_lines(tests: list[TestGrade], exercise_status: str) -> list[tuple[str, str]]:
    """(status, text) lines for the tests that need attention; a message shared by several tests is shown once."""
    if exercise_status == FLAGGED:
        return [(FLAGGED, _short(next(t.message for t in tests if t.status == FLAGGED)))]
    lines, previous, repeats = [], None, 0
    for test in tests:
        if test.status == PASSED or exercise_status == NOT_STARTED:
            continue
        name = test.id.split("::")[-1]
        if test.status == NOT_STARTED:
            lines.append((NOT_STARTED, f"{name}: {_short(test.message)}"))
            continue
        message = _short(test.message)
        if message == previous:
            repeats += 1
            continue
        if repeats:
            lines.append((test.status, f"  (and {repeats} more with the same message)"))
        lines.append((test.status, f"{name}: {message}"))
        previous, repeats = message, 0
    if repeats:
        lines.append((FAILING, f"  (and {repeats} more with the same message)"))
    return lines


def _not_run(kept: list[TestGrade]) -> str:
    by_week: dict = defaultdict(set)
    for grade in kept:
        by_week[grade.week].add(grade.exercise)
    return "; ".join(f"{week} · {', '.join(sorted(names))}" for week, names in sorted(by_week.items()))


def render(write, ran: list[TestGrade], everything: list[TestGrade], target: str, path, interrupted: bool,
           unfinished: list[tuple[str, str]] = ()) -> None:
    """`write(text, **markup)` once per line (pytest's terminal writer, or print). `unfinished`: (week,
    exercise) collected but not graded, because the run was interrupted."""
    summary = summarise(ran)
    for week, data in summary.items():
        write(f"{week:<36}{_points(data['points_earned'], data['points_possible']):>12}", bold=True)
        for name, row in data["exercises"].items():
            status = row["status"]
            markup = COLOURS.get(status, {"red": True})
            hint = f"   fill in {target}/{week}/{name}.py" if status == NOT_STARTED else ""
            write(f"  {MARKS[status]} {name:<22}{status:<14}{_points(row['points_earned'], row['points_possible']):>8}"
                  f"{hint}", **markup)
            tests = [g for g in ran if g.week == week and g.exercise == name]
            for line_status, text in _test_lines(tests, status):
                write(f"      {MARKS[line_status]} {text}", **COLOURS.get(line_status, {"red": True}))
    earned, possible = sum(g.points_earned for g in ran), sum(g.points_possible for g in ran)
    percent = 100 * earned / possible if possible else 0
    label = "TOTAL (interrupted)" if interrupted else "TOTAL"
    write(f"{label:<36}{_points(earned, possible):>12}  ({percent:.0f}%)", bold=True)
    if unfinished:
        by_week: dict = defaultdict(list)
        for week, name in unfinished:
            by_week[week].append(name)
        write("interrupted before grading: " + "; ".join(f"{week} · {', '.join(names)}"
                                                          for week, names in sorted(by_week.items())), yellow=True)
    ran_ids = {g.id for g in ran}
    kept = [g for g in everything if g.id not in ran_ids]
    if kept:
        all_earned = sum(g.points_earned for g in everything)
        all_possible = sum(g.points_possible for g in everything)
        write(f"not run this time (earlier grades kept): {_not_run(kept)}")
        write(f"{'all graded so far':<36}{_points(all_earned, all_possible):>12}  "
              f"({100 * all_earned / all_possible if all_possible else 0:.0f}%)", bold=True)
    write(f"grades written to {path}")
