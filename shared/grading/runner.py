"""Run autograder tests in a fresh `pytest` process and read back their grades.

A fresh process grades the files as they are on disk: modules a notebook kernel has already imported play no
part, and nothing the tests print reaches the notebook except what the caller chooses to show.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from shared.paths import REPO_ROOT

AUTOGRADER_DIR = REPO_ROOT / "autograder"
SCOREBOARD_TITLE = "workbook scoreboard"


@dataclass
class Run:
    returncode: int | None  # None: the run was stopped at its time limit
    output: str             # pytest's stdout and stderr
    grades: dict = field(default_factory=dict)  # the --grades-json payload; {} if pytest stopped before writing it

    def scoreboard(self) -> str:
        """The scoreboard lines exactly as `pytest autograder` prints them ("" if there is none)."""
        lines = self.output.splitlines()
        start = next((i for i, line in enumerate(lines) if SCOREBOARD_TITLE in line), None)
        if start is None:
            return ""
        end = next((i for i in range(start, len(lines)) if lines[i].startswith("grades written to")), len(lines) - 1)
        return "\n".join(lines[start:end + 1])


def exercise_tests(week: str, exercise: str) -> Path:
    """The autograder test file of one exercise."""
    return AUTOGRADER_DIR / week / f"test_{exercise}.py"


def run_tests(tests: list[Path], target: str | Path, grades_json: Path | None = None,
              timeout_s: float = 900, extra_args: tuple[str, ...] = ()) -> Run:
    """`pytest TESTS` with WORKBOOK_TARGET=`target`. With `grades_json`, the grades are written there and read
    back into `Run.grades`; without, the plugin writes its default .workbook/grades.json, as the CLI does.
    Test files outside autograder/ (an instructor's hidden tests, laid out as <dir>/weekN/test_<exercise>.py)
    get the grading plugin from the command line: give them no conftest.py of their own."""
    command = [sys.executable, "-m", "pytest", *map(str, tests), "-q", "-rN", "-p", "no:cacheprovider", *extra_args]
    if not any(AUTOGRADER_DIR in Path(test).resolve().parents for test in tests):
        command += ["-p", "shared.grading.plugin"]  # tests kept elsewhere (hidden tests): autograder/conftest.py's job
    if grades_json is not None:
        grades_json.unlink(missing_ok=True)
        command += ["--grades-json", str(grades_json)]
    env = {**os.environ, "WORKBOOK_TARGET": str(target),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as stopped:
        output = stopped.stdout.decode(errors="replace") if isinstance(stopped.stdout, bytes) else stopped.stdout
        return Run(None, (output or "") + f"\nthe tests were stopped after {timeout_s:g} s")
    grades = json.loads(grades_json.read_text()) if grades_json is not None and grades_json.exists() else {}
    return Run(done.returncode, done.stdout + done.stderr, grades)
