"""How many points each autograder test is worth, read from pytest's own collection (parametrised cases included).

Run as a pytest plugin in a separate process (`collect()`), so that the caller does not import the test files, torch
and TensorFlow itself. A test is worth `@pytest.mark.points(n)`, 1 without the marker, as in shared/grading/plugin.py.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from shared.paths import REPO_ROOT

OUTPUT_ENV = "WORKBOOK_POINTS_JSON"


@dataclass(frozen=True)
class TestPoints:
    """One test function of an exercise: its pytest items (one per parametrised case) and their points."""
    __test__ = False  # not a pytest test class
    name: str
    cases: int
    points: float


def pytest_collection_finish(session):  # the plugin side: runs inside the collecting pytest process
    items = []
    for item in session.items:
        marker = item.get_closest_marker("points")
        path = Path(str(item.fspath))
        items.append({"week": path.parent.name, "exercise": path.stem.removeprefix("test_"),
                      "name": item.originalname, "points": marker.args[0] if marker else 1})
    Path(os.environ[OUTPUT_ENV]).write_text(json.dumps(items))


def collect(paths: list[Path] | None = None) -> dict[tuple[str, str], list[TestPoints]]:
    """{(week, exercise): its tests in file order} for the autograder tests under `paths` (all by default)."""
    paths = paths or [REPO_ROOT / "autograder"]
    with tempfile.TemporaryDirectory(prefix="workbook-points-") as scratch:
        output = Path(scratch) / "items.json"
        env = {**os.environ, OUTPUT_ENV: str(output),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
        done = subprocess.run([sys.executable, "-m", "pytest", *map(str, paths), "--collect-only", "-q",
                               "-p", "no:cacheprovider", "-p", "shared.course.points"],
                              cwd=REPO_ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0 or not output.exists():
            raise RuntimeError(f"collecting the autograder tests failed:\n{(done.stdout + done.stderr)[-3000:]}")
        items = json.loads(output.read_text())
    grouped: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(dict)
    for item in items:
        grouped[item["week"], item["exercise"]].setdefault(item["name"], []).append(item["points"])
    return {key: [TestPoints(name, len(points), sum(points)) for name, points in tests.items()]
            for key, tests in grouped.items()}
