"""Generate the learner's exercises (weeks/) from the reference solutions (solutions/).

Every `### BEGIN SOLUTION` … `### END SOLUTION` region goes through nbgrader's own `ClearSolutions`, which puts
`# YOUR CODE HERE` / `raise NotImplementedError()` in its place at the same indentation. Signatures, docstrings
and hints outside the regions stay. Files without regions (data, helpers the learner is given) are copied as
they are, except that every copy refers to itself (`for_learner`: "Run it" lines say `python -m weeks.…`).

weeks/.release-manifest.json records the hash of every file as released, which tells three cases apart:
stale (solutions/ changed since the release), edited (the learner's own work: never overwritten without
--force) and in sync.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.preprocessors import ClearSolutions

from shared.atomic import write_bytes, write_text
from shared.notebook_cells import add_notebook_cells
from shared.paths import SOLUTIONS_DIR, WEEKS_DIR

MANIFEST = ".release-manifest.json"
BEGIN = "BEGIN SOLUTION"
HEADER = "# Exercise generated from solutions/{path} by `workbook release`: fill in each `# YOUR CODE HERE`.\n"
SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints"}
REFERENCE_ONLY = {"models.py"}  # registers the reference models for shared.reference: nothing for a learner
RUN_REFERENCE, RUN_YOURS = "python -m solutions.", "python -m weeks."
LEARNER_PACKAGE_DOC = (
    '"""Your exercises: generated from solutions/ by `workbook release`. Fill in each `# YOUR CODE HERE`, grade\n'
    'yourself with `pytest autograder`, and run an exercise\'s demo with `python -m weeks.<week>.<exercise>`.\n\n'
    "Importing the package loads `shared` first: it sets Keras' backend and keeps torch and TensorFlow from\n"
    'crashing each other in one process (see shared/__init__.py), so no exercise file has to.\n"""\n')


def clear_solutions(source: str) -> str:
    """Run nbgrader's ClearSolutions over Python source, as one solution code cell."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"language": "python", "name": "python3", "display_name": "Python 3"}
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"solution": True, "grade": False, "locked": False, "grade_id": "module"}
    notebook.cells.append(cell)
    cleared, _ = ClearSolutions().preprocess(notebook, {})
    return cleared.cells[0].source


def for_learner(relative: str, source: str) -> str:
    """The learner's copy refers to itself: "Run it" lines name `python -m weeks.…`, and the package says what
    it is. (Imports of earlier weeks keep `solutions.`: week 3 must not depend on the learner's week 2.)"""
    if relative == "__init__.py":
        docstring_end = source.index('"""', 3) + 3
        return LEARNER_PACKAGE_DOC + source[docstring_end:].lstrip("\n")
    return source.replace(RUN_REFERENCE, RUN_YOURS)


def generate(solutions: Path = SOLUTIONS_DIR) -> dict[str, bytes]:
    """The released tree as {relative path: content}, without writing anything."""
    files = {}
    for path in sorted(solutions.rglob("*")):
        relative = path.relative_to(solutions)
        if path.is_dir() or SKIP_PARTS & set(relative.parts) or path.suffix == ".pyc":
            continue
        if relative.as_posix() in REFERENCE_ONLY:
            continue
        content = path.read_bytes()
        if path.suffix == ".py":
            source = for_learner(relative.as_posix(), content.decode())
            if BEGIN in source:
                stub = HEADER.format(path=relative.as_posix()) + clear_solutions(source)
                source = add_notebook_cells(stub, relative.as_posix())  # opens as a notebook too
            content = source.encode()
        files[relative.as_posix()] = content
    return files


def _sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _read_manifest(dest: Path) -> dict[str, str]:
    path = dest / MANIFEST
    return json.loads(path.read_text()) if path.exists() else {}


@dataclass
class Status:
    stale: list[str] = field(default_factory=list)    # the release is behind solutions/
    edited: list[str] = field(default_factory=list)   # differs from the release: a learner's work
    missing: list[str] = field(default_factory=list)  # released file deleted from weeks/


def check(dest: Path = WEEKS_DIR, solutions: Path = SOLUTIONS_DIR) -> Status:
    released, status = _read_manifest(dest), Status()
    generated = generate(solutions)
    for name, content in generated.items():
        target = dest / name
        if released.get(name) != _sha(content):
            status.stale.append(name)
        if not target.exists():
            status.missing.append(name)
        elif name in released and _sha(target.read_bytes()) != released[name]:
            status.edited.append(name)
    status.stale += sorted(set(released) - set(generated))  # released files whose solution was removed
    return status


def release(dest: Path = WEEKS_DIR, solutions: Path = SOLUTIONS_DIR, force: bool = False) -> dict[str, list[str]]:
    """Write the stubs into `dest`. Files a learner edited are kept unless `force`; returns what happened."""
    released = _read_manifest(dest)
    generated = generate(solutions)
    report = {"written": [], "unchanged": [], "kept_edits": [], "removed": []}
    for name, content in generated.items():
        target = dest / name
        current = target.read_bytes() if target.exists() else None
        if current == content:
            report["unchanged"].append(name)
            continue
        edited = current is not None and name in released and _sha(current) != released[name]
        if edited and not force:
            report["kept_edits"].append(name)
            continue
        write_bytes(target, content)
        report["written"].append(name)
    for name in sorted(set(released) - set(generated)):
        target = dest / name
        if target.exists() and (force or _sha(target.read_bytes()) == released[name]):
            target.unlink()
            report["removed"].append(name)
    manifest = {name: _sha(content) for name, content in generated.items()}
    write_text(dest / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return report
