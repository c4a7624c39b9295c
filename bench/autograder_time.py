"""How long grading takes: the whole autograder against solutions/ and against fresh stubs, and each week.

The foundation promises that grading all four weeks against the solutions stays under 60 s on the 2-core
reference machine, fast enough to run after every edit. Run: `python bench/autograder_time.py`.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BUDGET_S = 60


def timed_grade(target: str, *paths: str) -> float:
    env = {**os.environ, "WORKBOOK_TARGET": target}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", *paths, "-q", "--grades-json", f"{tmp}/g.json"],
                       cwd=ROOT, env=env, capture_output=True)
        return time.perf_counter() - start


def main() -> None:
    from shared import release

    rows = [("all weeks, solutions/", timed_grade("solutions", "autograder"))]
    for week in sorted(p.name for p in (ROOT / "autograder").glob("week*")):
        rows.append((f"{week}, solutions/", timed_grade("solutions", f"autograder/{week}")))
    with tempfile.TemporaryDirectory() as stubs:
        release.release(dest=Path(stubs))
        rows.append(("all weeks, fresh stubs", timed_grade(stubs, "autograder")))
    load = os.getloadavg()[0]
    print(f"| run | wall time (s) |\n| --- | ---: |")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.1f} |")
    print(f"\nbudget: all weeks against solutions/ < {BUDGET_S} s -> "
          f"{rows[0][1] / BUDGET_S:.2f} of the budget; {os.cpu_count()} cores, load average {load:.1f} at the end")


if __name__ == "__main__":
    main()
