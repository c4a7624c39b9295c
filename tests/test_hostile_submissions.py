"""Hostile submissions (tests/hostile/): learner code that exits, crashes, hangs, leaves processes behind, changes
global state or tries to fake its grade. For each, `pytest autograder` must:
- finish, print the scoreboard and write the grades JSON;
- give the hostile exercise no point it did not earn (each is a stub plus the hostile code: nothing may pass);
- grade every other exercise exactly as without it (here: correct copies of the solutions, all passed);
- flag the deliberate cheats; and leave no process running.

A round grades one hostile submission of each exercise together, beside four correct "witness" exercises, with
budgets shortened 20x (--workbook-time-scale 0.05) so that the hangs are stopped in seconds.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared import release
from shared.paths import REPO_ROOT, SOLUTIONS_DIR

HOSTILE_DIR = Path(__file__).resolve().parent / "hostile"
WITNESSES = ("week1/optimizers", "week2/training", "week3/diagnose", "week3/callbacks")
MARKER = "WORKBOOK_HOSTILE_MARKER"


@dataclass(frozen=True)
class Hostile:
    exercise: str   # "week1/activations"
    name: str
    path: Path
    expect: str     # the exercise's status on the scoreboard
    flagged: bool


def load() -> list[Hostile]:
    found = []
    for path in sorted(HOSTILE_DIR.glob("*.py")):
        lines = path.read_text().splitlines()
        exercise = lines[0].removeprefix("# Hostile: ").split(":")[0]
        expect = lines[1].removeprefix("# expect: ")
        found.append(Hostile(exercise, path.stem.split("__")[1], path, expect.removesuffix(" (flagged)"),
                             expect.endswith("(flagged)")))
    return found


def rounds(hostiles: list[Hostile]) -> list[list[Hostile]]:
    by_exercise: dict = {}
    for hostile in hostiles:
        by_exercise.setdefault(hostile.exercise, []).append(hostile)
    count = max(len(group) for group in by_exercise.values())
    return [[group[k] for group in by_exercise.values() if k < len(group)] for k in range(count)]


HOSTILES = load()
ROUNDS = rounds(HOSTILES)


def _leftovers() -> list[int]:
    """Processes still carrying the hostile submissions' marker in their environment."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                with open(f"/proc/{entry.name}/environ", "rb") as handle:
                    if MARKER.encode() in handle.read():
                        found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_the_suite_covers_what_the_issue_lists():
    assert len(HOSTILES) >= 30
    names = " ".join(h.name for h in HOSTILES)
    for kind in ("exit", "segfault", "sleeps", "hangs", "thread", "multiprocessing", "detached", "float64",
                 "gradients_off", "patches", "imports_the_reference", "repoints", "fake", "keyboard", "pytest_exit"):
        assert kind.replace("gradients_off", "turns_gradients_off") in names or kind in names, kind
    assert not set(WITNESSES) & {h.exercise for h in HOSTILES}


def _tree(round_: list[Hostile], root: Path) -> Path:
    tree = root / "tree"
    shutil.copytree(SOLUTIONS_DIR, tree, ignore=shutil.ignore_patterns("__pycache__"))
    stubs = release.generate()
    for hostile in round_:
        stub = stubs[f"{hostile.exercise}.py"].decode()
        (tree / f"{hostile.exercise}.py").write_text(stub + "\n\n" + hostile.path.read_text())
    return tree


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; the isolation itself is tested on Linux")
@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("index", range(len(ROUNDS)), ids=[f"round{k}" for k in range(len(ROUNDS))])
def test_hostile_submissions_cost_only_their_own_exercise(index, tmp_path):
    round_ = ROUNDS[index]
    tree = _tree(round_, tmp_path)
    grades_json = tmp_path / "grades.json"
    tests = [f"autograder/{exercise.split('/')[0]}/test_{exercise.split('/')[1]}.py"
             for exercise in [h.exercise for h in round_] + list(WITNESSES)]
    env = {**os.environ, "WORKBOOK_TARGET": str(tree)}
    env.pop(MARKER, None)
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", *tests, "-q", "-p", "no:cacheprovider",
                           "--grades-json", str(grades_json), "--workbook-time-scale", "0.05"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=840)
    output = done.stdout + done.stderr
    leftovers = _leftovers()
    for pid in leftovers:  # do not leave them to the machine, whatever the verdict
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    assert done.returncode in (0, 1), f"pytest exit code {done.returncode}:\n{output[-4000:]}"
    assert "workbook scoreboard" in output and "grades written to" in output, output[-4000:]
    assert len(done.stdout) < 2_000_000, f"{len(done.stdout):,} characters of output: learner prints are not capped"
    assert not leftovers, f"processes outlived the run: {leftovers}"
    grades = json.loads(grades_json.read_text())
    assert grades.get("version") and grades["points_possible"] < 999, f"the grades file was faked: {grades}"
    by_exercise: dict = {}
    for test in grades["tests"]:
        by_exercise.setdefault(f"{test['week']}/{test['exercise']}", []).append(test)
    problems = []
    for witness in WITNESSES:
        tests_ = by_exercise.get(witness, [])
        if not tests_ or any(t["status"] != "passed" for t in tests_):
            problems.append(f"witness {witness} was not graded as without the hostile code: "
                            f"{[(t['id'], t['status'], t['message'][:80]) for t in tests_ if t['status'] != 'passed']}")
    for hostile in round_:
        tests_ = by_exercise.get(hostile.exercise, [])
        week, name = hostile.exercise.split("/")
        status = grades["weeks"].get(week, {}).get("exercises", {}).get(name, {}).get("status")
        passed = [t["id"] for t in tests_ if t["status"] == "passed"]
        if not tests_:
            problems.append(f"{hostile.name}: {hostile.exercise} is missing from the grades")
        if passed:
            problems.append(f"{hostile.name}: false passes {passed}")
        if status != hostile.expect:
            problems.append(f"{hostile.name}: {hostile.exercise} is {status!r}, expected {hostile.expect!r}: "
                            f"{[t['message'][:100] for t in tests_][:2]}")
        if hostile.flagged and status != "flagged" and not any(hostile.exercise in key or name in value
                                                               for key, value in grades["flags"].items()):
            problems.append(f"{hostile.name}: the cheat was not flagged (flags: {grades['flags']})")
    assert not problems, "\n".join(problems) + f"\n({time.monotonic() - start:.0f} s)\n" + output[-3000:]
