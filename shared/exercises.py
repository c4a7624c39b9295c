"""Which exercise tree is in use, and how to import an exercise module from it.

The tree is `weeks` (the learner's copy, the default), `solutions`, or any directory laid out like them (the
invariant tests grade a fresh release of the stubs in a temporary directory). `pytest autograder --solutions`
chooses it, or the environment variable WORKBOOK_TARGET (`weeks`, `solutions` or a path).

The autograder (shared/grading/target.py) and `workbook compare --mine` both import the learner's code
through `import_exercise`, so both report a broken module the same way: file, line and error.

While one exercise is graded (`grade_only`, called by the autograder in the process that grades it), the tree is
pinned (the learner's code cannot re-point WORKBOOK_TARGET), and every *other* exercise of the tree comes from the
reference solutions: an exercise is graded on its own code, whatever state its siblings are in.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import sys
import traceback
import types
from pathlib import Path

from shared.paths import SOLUTIONS_DIR, WEEKS_DIR

ENV_VAR = "WORKBOOK_TARGET"
_SYNTHETIC = "_workbook_target"  # package name for a target tree outside the repo
_PINNED: str | None = None       # the tree chosen when grading started; later changes to ENV_VAR are ignored
_GRADED: tuple[str, str] | None = None  # (week, exercise) being graded in this process, if any


def target_name() -> str:
    return _PINNED if _PINNED is not None else os.environ.get(ENV_VAR, "weeks")


def target_root() -> Path:
    name = target_name()
    if name == "weeks":
        return WEEKS_DIR
    if name == "solutions":
        return SOLUTIONS_DIR
    return Path(name).resolve()


def is_reference() -> bool:
    """True when the tree being graded is the reference solutions themselves."""
    return target_root() == SOLUTIONS_DIR


def pin_target() -> str:
    """Freeze the tree for this process's lifetime, as WORKBOOK_TARGET says now; returns its name."""
    global _PINNED
    _PINNED = os.environ.get(ENV_VAR, "weeks")
    return _PINNED


def grade_only(week: str, name: str) -> None:
    """This process grades `<week>/<name>` alone: other exercises are imported from the reference solutions."""
    global _GRADED
    pin_target()
    _GRADED = (week, name)


def package_name() -> str:
    """The import name of the target tree: `weeks`, `solutions`, or a synthetic package for other paths."""
    root = target_root()
    if root in (WEEKS_DIR, SOLUTIONS_DIR):
        return root.name
    if _SYNTHETIC not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            _SYNTHETIC, root / "__init__.py", submodule_search_locations=[str(root)]
        )
        package = importlib.util.module_from_spec(spec)
        sys.modules[_SYNTHETIC] = package
        spec.loader.exec_module(package)
    return _SYNTHETIC


class ExerciseImportError(Exception):
    """The learner's module could not be imported; the message names the file and line."""


def _describe_import_failure(path: Path, error: BaseException) -> str:
    if isinstance(error, SyntaxError):
        return f"{error.filename}:{error.lineno}: SyntaxError: {error.msg} — fix it and the module's tests run again."
    frames = [f for f in traceback.extract_tb(error.__traceback__) if Path(f.filename).resolve() == path]
    where = f"{path}:{frames[-1].lineno}" if frames else str(path)
    return f"{where}: importing the module raised {type(error).__name__}: {error}"


def _reference(week: str, name: str) -> types.ModuleType:
    from shared.reference import exercise_module

    return exercise_module(week, name)


def _siblings_imported_by(path: Path) -> set[str]:
    """The modules of the same week that `path` imports relatively (`from .backprop import ...`)."""
    try:
        tree = ast.parse(path.read_text())
    except (SyntaxError, OSError, ValueError):
        return set()  # the import itself reports it
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names |= {node.module.split(".")[0]} if node.module else {alias.name for alias in node.names}
    return {name for name in names if (path.parent / f"{name}.py").exists()}


def _use_reference_siblings(package: str, week: str, name: str, path: Path) -> None:
    for sibling in _siblings_imported_by(path) - {name}:
        key = f"{package}.{week}.{sibling}"
        if key not in sys.modules:
            importlib.import_module(f"{package}.{week}")  # the week's package first, as an import would
            sys.modules[key] = _reference(week, sibling)
            setattr(sys.modules[f"{package}.{week}"], sibling, sys.modules[key])


def import_exercise(week: str, name: str) -> types.ModuleType:
    """Import `<target>/<week>/<name>.py`. Raises ExerciseImportError with file and line if that fails.

    While another exercise is being graded (`grade_only`), this returns the reference module instead."""
    if _GRADED is not None and (week, name) != _GRADED and not is_reference():
        return _reference(week, name)
    package = package_name()
    path = (target_root() / week / f"{name}.py").resolve()
    if not path.exists():
        raise ExerciseImportError(f"{path} does not exist — expected the exercise file there.")
    try:
        if _GRADED is not None and not is_reference():
            _use_reference_siblings(package, week, name, path)
        return importlib.import_module(f"{package}.{week}.{name}")
    except NotImplementedError:
        raise  # a stub executed at import time: "not started", handled by the caller
    except (Exception, SystemExit) as error:  # SyntaxError included: any failure here is the learner's module
        raise ExerciseImportError(_describe_import_failure(path, error)) from None
