"""How long grading takes, and what isolating each exercise in its own process costs.

Each row is one `pytest autograder` process grading all four weeks (start-up, imports of torch and TensorFlow
included), timed in wall-clock seconds and in CPU-seconds of the whole process tree (which other programs on a
shared machine barely change). The rows compare the ways to run the test files:
- in this process (`--workbook-isolation none`, what the autograder did before issue 17);
- a forked process per test file, one file at a time (`--workbook-jobs 1`) or two at a time (the default);
- a fresh `pytest` process per file (`--workbook-isolation spawn`, the default off Linux).

    python bench/autograder_time.py                  # ~10 runs of the autograder: 5-15 minutes
    python bench/autograder_time.py --quick          # the default mode only, solutions and stubs
    python bench/autograder_time.py --calibration    # the start-up workload's time (budget.REFERENCE_CALIBRATION)
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BUDGET_S = 60  # the promise: all four weeks against solutions/ in under a minute on a quiet 2-core machine

MODES = {
    "in one process (before issue 17)": ["--workbook-isolation", "none"],
    "fork, 1 file at a time": ["--workbook-isolation", "fork", "--workbook-jobs", "1"],
    "fork, 2 files at a time (default)": [],
    "fresh process per file, 2 at a time": ["--workbook-isolation", "spawn"],
}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_grade(target: str, paths: list[str], options: list[str]) -> dict:
    env = {**os.environ, "WORKBOOK_TARGET": target}
    with tempfile.TemporaryDirectory() as tmp:
        load, cpu, start = os.getloadavg()[0], children_cpu(), time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pytest", *paths, "-q", "-p", "no:cacheprovider",
                               "--grades-json", f"{tmp}/g.json", *options], cwd=ROOT, env=env, capture_output=True)
        wall, cpu = time.perf_counter() - start, children_cpu() - cpu
        grades = json.loads(Path(f"{tmp}/g.json").read_text()) if Path(f"{tmp}/g.json").exists() else {}
    return {"wall": wall, "cpu": cpu, "load": (load + os.getloadavg()[0]) / 2, "grades": grades,
            "returncode": done.returncode}


def busiest_test(grades: dict) -> str:
    """The test closest to its budget: CPU-seconds used / budget (60 unless marked)."""
    import ast

    budgets = {}
    for path in (ROOT / "autograder").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                for decorator in node.decorator_list:
                    if isinstance(decorator, ast.Call) and getattr(decorator.func, "attr", "") == "timeout":
                        budgets[f"{path.relative_to(ROOT)}::{node.name}"] = decorator.args[0].value
    ratios = [(t["cpu_s"] / budgets.get(t["id"].split("[")[0], 60), t["id"]) for t in grades.get("tests", [])
              if t.get("cpu_s") is not None]
    ratio, test = max(ratios, default=(0, "-"))
    return f"{ratio:.3f} of its budget ({test})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the default mode")
    parser.add_argument("--calibration", action="store_true", help="time the start-up workload (1 thread)")
    args = parser.parse_args()
    if args.calibration:
        import torch

        from shared.grading import budget

        torch.set_num_threads(1)
        runs = [budget.measure(repeats=1) for _ in range(25)]
        print(f"calibration workload, 1 thread, fastest of 25: wall {min(r[0] for r in runs):.3f} s, "
              f"CPU {min(r[1] for r in runs):.3f} s; median wall {sorted(r[0] for r in runs)[12]:.3f} s "
              f"(load average {os.getloadavg()[0]:.1f}); budget.REFERENCE_CALIBRATION = "
              f"{budget.REFERENCE_CALIBRATION}")
        return
    from shared import release

    modes = {"fork, 2 files at a time (default)": []} if args.quick else MODES
    rows = []
    for name, options in modes.items():
        result = timed_grade("solutions", ["autograder"], options)
        rows.append((f"all weeks, solutions/, {name}", result))
    with tempfile.TemporaryDirectory() as stubs:
        release.release(dest=Path(stubs))
        rows.append(("all weeks, fresh stubs (default)", timed_grade(stubs, ["autograder"], [])))
    baseline = rows[0][1]
    print("| run | points | wall (s) | CPU (s) | CPU vs the first row | load average |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, r in rows:
        g = r["grades"]
        print(f"| {name} | {g.get('points_earned', 0):g}/{g.get('points_possible', 0):g} | {r['wall']:.1f} | "
              f"{r['cpu']:.1f} | {r['cpu'] / baseline['cpu']:.2f}x | {r['load']:.1f} |")
    default = next(r for name, r in rows if "default" in name and "solutions" in name)
    print(f"\n{os.cpu_count()} cores. Busiest test in the default run: {busiest_test(default['grades'])}.")
    print(f"Budget: all weeks against solutions/ < {BUDGET_S} s on a quiet machine; default run: "
          f"{default['wall']:.0f} s wall at load {default['load']:.1f}.")


if __name__ == "__main__":
    main()
