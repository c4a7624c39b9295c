"""Every exercise demo a "Run it" line advertises runs, with its quick flag, on the reference solutions.

Like pytorch/examples' run_python_examples.sh: each module with a `main()` is run as the learner would run it,
`python -m solutions.weekN.name --dry-run`, in a fresh interpreter and a scratch directory (demos that save
figures write there). A demo that nothing runs drifts; this keeps every advertised command working.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from shared.paths import REPO_ROOT, SOLUTIONS_DIR

DEMOS = sorted(path for path in SOLUTIONS_DIR.glob("week*/*.py") if '__name__ == "__main__"' in path.read_text())
IDS = [f"{path.parent.name}.{path.stem}" for path in DEMOS]


def _module(path) -> str:
    return f"solutions.{path.parent.name}.{path.stem}"


@pytest.mark.parametrize("path", DEMOS, ids=IDS)
def test_the_demo_is_advertised_with_a_run_it_line(path):
    docstring = path.read_text().split('"""')[1]
    assert re.search(r"Run it:?[\s\S]*?`?python -m " + re.escape(_module(path)) + r"\b", docstring), (
        f"{path.relative_to(REPO_ROOT)} has a main() but its docstring has no `Run it: python -m {_module(path)}`")


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("path", DEMOS, ids=IDS)
def test_the_demo_runs_with_dry_run(path, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.run([sys.executable, "-m", _module(path), "--dry-run"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=220)
    assert process.returncode == 0, f"`python -m {_module(path)} --dry-run` failed:\n{process.stderr[-3000:]}"
    assert process.stdout.strip(), f"`python -m {_module(path)} --dry-run` printed nothing"
