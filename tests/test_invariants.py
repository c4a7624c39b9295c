"""The promises the autograder makes: solutions score 100% (beside two busy-loop processes: correct code never loses
points because the machine is slow), fresh stubs score 0 as "not started", and weeks/ is generated from solutions/
without leaking a line of any solution."""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared import release
from shared.paths import REPO_ROOT, SOLUTIONS_DIR, WEEKS_DIR


def _grade(target: str, grades_json: Path) -> tuple[subprocess.CompletedProcess, dict]:
    env = {**os.environ, "WORKBOOK_TARGET": target}
    process = subprocess.run(
        [sys.executable, "-m", "pytest", "autograder", "-q", "--grades-json", str(grades_json)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True,
    )
    grades = json.loads(grades_json.read_text()) if grades_json.exists() else {}
    return process, grades


@contextlib.contextmanager
def _busy_machine(processes: int = 2):
    """Artificial load: busy-loop processes beside the run, as a learner's browser and video call would be."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_solutions_score_full_marks_on_a_busy_machine(tmp_path):
    with _busy_machine():
        process, grades = _grade("solutions", tmp_path / "grades.json")
    failing = [f"{t['id']}: {t['message']}" for t in grades.get("tests", []) if t["status"] != "passed"]
    assert process.returncode == 0 and grades and not failing, (
        "solutions/ must score 100%. Failing:\n" + "\n".join(failing) + "\n" + process.stdout[-4000:]
    )
    assert grades["points_earned"] == grades["points_possible"] > 0


@pytest.mark.timeout(600)
def test_fresh_stubs_score_zero_as_not_started(tmp_path):
    stubs = tmp_path / "stubs"
    release.release(dest=stubs)
    process, grades = _grade(str(stubs), tmp_path / "grades.json")
    assert process.returncode in (0, 1), f"the autograder itself broke on fresh stubs:\n{process.stdout[-4000:]}"
    assert "error" not in process.stdout.splitlines()[-1], process.stdout[-4000:]
    others = [f"{t['id']} [{t['status']}]: {t['message']}" for t in grades["tests"] if t["status"] != "not started"]
    assert not others, "every test must be 'not started' on fresh stubs:\n" + "\n".join(others)
    assert grades["points_earned"] == 0 and grades["points_possible"] > 0


def test_weeks_is_in_sync_with_solutions():
    status = release.check()
    assert not status.stale and not status.missing, (
        f"weeks/ is stale: {status.stale + status.missing}; run `workbook release`"
    )
    if os.environ.get("CI"):  # a clean clone: weeks/ must be exactly what release generates
        assert not status.edited, f"weeks/ was edited by hand: {status.edited}; run `workbook release --force`"


def _split(source: str) -> tuple[set[str], set[str]]:
    """Stripped lines inside and outside solution regions, by a parser independent of nbgrader's."""
    inside, outside, in_region = set(), set(), False
    for line in source.splitlines():
        if "### BEGIN SOLUTION" in line:
            in_region = True
        elif "### END SOLUTION" in line:
            in_region = False
        else:
            (inside if in_region else outside).add(line.strip())
    return inside, outside


def test_no_solution_text_survives_into_stubs():
    leaks, learners_work = [], set(release.check().edited)  # a learner's own answers are not leaks
    for name, generated in release.generate().items():
        source = (SOLUTIONS_DIR / name).read_bytes()
        if b"### BEGIN SOLUTION" not in source:
            continue
        inside, outside = _split(source.decode())
        secret = {line for line in inside - outside if line and not line.startswith("#")}
        on_disk = WEEKS_DIR / name
        for label, text in [("generated", generated.decode()),
                            ("weeks/", on_disk.read_text() if on_disk.exists() and name not in learners_work else "")]:
            assert "### BEGIN SOLUTION" not in text, f"{label} {name} still has a solution marker"
            leaks += [f"{label} {name}: {line}" for line in secret & {l.strip() for l in text.splitlines()}]
    assert not leaks, "solution text found in the stubs:\n" + "\n".join(sorted(leaks))


def test_files_without_regions_are_copied_verbatim_except_self_references():
    for name, content in release.generate().items():
        source = (SOLUTIONS_DIR / name).read_bytes()
        if b"BEGIN SOLUTION" not in source and name != "__init__.py":
            expected = source.replace(release.RUN_REFERENCE.encode(), release.RUN_YOURS.encode())
            assert content == expected, f"{name} has no solution region and must be copied as it is"


def test_the_learners_copy_refers_to_itself():
    generated = release.generate()
    told_to_run_the_reference = [name for name, content in generated.items() if b"python -m solutions." in content]
    assert not told_to_run_the_reference, f"these would run the reference, not the learner's code: " \
                                          f"{told_to_run_the_reference}"
    assert b"Reference solutions" not in generated["__init__.py"] and b"Your exercises" in generated["__init__.py"]
    assert not set(release.REFERENCE_ONLY) & set(generated)


def test_release_keeps_a_learners_edits(tmp_path):
    release.release(dest=tmp_path)
    edited = next(p for p in sorted(tmp_path.rglob("*.py")) if "NotImplementedError" in p.read_text())
    edited.write_text(edited.read_text() + "\n# my work\n")
    report = release.release(dest=tmp_path)
    assert str(edited.relative_to(tmp_path)) in report["kept_edits"] and "# my work" in edited.read_text()
    assert str(edited.relative_to(tmp_path)) in release.check(dest=tmp_path).edited
    release.release(dest=tmp_path, force=True)
    assert "# my work" not in edited.read_text()


def test_release_check_names_stale_files(tmp_path):
    release.release(dest=tmp_path)
    manifest = json.loads((tmp_path / release.MANIFEST).read_text())
    some_file = sorted(manifest)[0]
    manifest[some_file] = "0" * 64  # as if solutions/ changed after this release
    (tmp_path / release.MANIFEST).write_text(json.dumps(manifest))
    assert release.check(dest=tmp_path).stale == [some_file]
