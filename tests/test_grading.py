"""The autograder's behaviour around the tests: grades that accumulate, quiet output, capped learner prints, the
fresh-process mode used off Linux. (Hostile code: test_hostile_submissions.py; messages: test_mutation_suite.py;
full marks under load: test_invariants.py.)"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from shared import release
from shared.paths import REPO_ROOT, SOLUTIONS_DIR


def _grade(target, grades_json: Path, *tests: str, extra: tuple[str, ...] = ()) -> tuple[str, dict]:
    env = {**os.environ, "WORKBOOK_TARGET": str(target)}
    done = subprocess.run([sys.executable, "-m", "pytest", *tests, "-p", "no:cacheprovider", "--grades-json",
                           str(grades_json), *extra], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr, json.loads(grades_json.read_text())


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_grades_accumulate_across_runs(tmp_path):
    path = tmp_path / "grades.json"
    _, first = _grade("solutions", path, "autograder/week1/test_tensors.py")
    output, second = _grade("solutions", path, "autograder/week3/test_diagnose.py")
    exercises = {(t["week"], t["exercise"]) for t in second["tests"]}
    assert exercises == {("week1", "tensors"), ("week3", "diagnose")}, exercises
    kept = {t["id"]: t["graded_at"] for t in second["tests"] if t["exercise"] == "tensors"}
    assert kept == {t["id"]: t["graded_at"] for t in first["tests"]}, "the earlier entries were not kept as they were"
    assert all(t["graded_at"] for t in second["tests"])
    assert second["points_earned"] == second["points_possible"] == first["points_possible"] + 13
    assert "not run this time (earlier grades kept): week1 · tensors" in output
    # Another tree's grades are not mixed in.
    stubs = tmp_path / "stubs"
    release.release(dest=stubs)
    _, third = _grade(stubs, path, "autograder/week3/test_diagnose.py")
    assert {t["exercise"] for t in third["tests"]} == {"diagnose"} and third["points_earned"] == 0


def test_a_not_started_exercise_takes_one_line(tmp_path):
    stubs = tmp_path / "stubs"
    release.release(dest=stubs)
    output, grades = _grade(stubs, tmp_path / "grades.json", "autograder/week1/test_activations.py")
    assert {t["status"] for t in grades["tests"]} == {"not started"}
    assert "FAILURES" not in output and "short test summary" not in output, output
    for test in grades["tests"]:
        assert test["id"].split("::")[1] not in output, f"{test['id']} is listed: {output}"
    lines = [line for line in output.splitlines() if "activations" in line]
    assert len(lines) == 2, output  # the file's progress line and its scoreboard line


def test_a_learners_prints_show_only_when_failing_capped_and_labelled(tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(SOLUTIONS_DIR, tree, ignore=shutil.ignore_patterns("__pycache__"))
    module = tree / "week3" / "diagnose.py"
    module.write_text(module.read_text() + '''

_diagnose = diagnose


def diagnose(history):
    for line in range(5000):
        print(f"my debug line {line}")
    result = _diagnose(history)
    if history["train_loss"][0] == 2.3026:  # the flat history: answer wrongly
        result.verdict = "good fit"
    return result
''')
    output, grades = _grade(tree, tmp_path / "grades.json", "autograder/week3/test_diagnose.py")
    failing = [t for t in grades["tests"] if t["status"] != "passed"]
    assert [t["id"].split("::")[1] for t in failing] == ["test_not_converging[flat-history3]"], failing
    assert "what your code printed (stdout, during the test)" in output
    assert "more lines not shown" in output and output.count("my debug line") < 60, output[-3000:]
    assert "TensorFlow" not in output


def test_tensorflow_start_up_lines_never_show(tmp_path):
    output, grades = _grade("solutions", tmp_path / "grades.json", "autograder/week1/test_keras_basics.py")
    assert grades["points_earned"] == grades["points_possible"] > 0
    for noise in ("absl::InitializeLog", "oneDNN custom operations", "cpu_feature_guard"):
        assert noise not in output, output


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ctrl_c_keeps_what_was_graded(tmp_path):
    path = tmp_path / "grades.json"
    env = {**os.environ, "WORKBOOK_TARGET": "solutions"}
    run = subprocess.Popen([sys.executable, "-m", "pytest", "autograder/week1", "-p",
                            "no:cacheprovider", "--grades-json", str(path)], cwd=REPO_ROOT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in run.stdout:  # once the first file's results are out, press Ctrl-C
        lines.append(line)
        if line.startswith("autograder/week1/test_activations.py"):
            break
    run.send_signal(signal.SIGINT)  # what Ctrl-C sends (the grading processes have their own process groups)
    output = "".join(lines) + run.communicate(timeout=120)[0]
    assert "TOTAL (interrupted)" in output and "grades written to" in output, output[-3000:]
    assert "interrupted before grading: " in output, output[-3000:]
    grades = json.loads(path.read_text())
    graded = {t["exercise"] for t in grades["tests"]}
    assert "activations" in graded and len(graded) < 6, graded
    assert all(t["status"] == "passed" for t in grades["tests"]), grades


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_fresh_process_per_file_grades_the_same(tmp_path):
    """The mode used where forking is unsafe (macOS, Windows): a fresh `pytest --workbook-child` per file."""
    tests = ("autograder/week1/test_tensors.py", "autograder/week2/test_training.py")
    _, forked = _grade("solutions", tmp_path / "fork.json", *tests)
    _, spawned = _grade("solutions", tmp_path / "spawn.json", *tests, extra=("--workbook-isolation", "spawn"))
    assert [(t["id"], t["status"]) for t in spawned["tests"]] == [(t["id"], t["status"]) for t in forked["tests"]]
    assert spawned["points_earned"] == spawned["points_possible"] > 0
