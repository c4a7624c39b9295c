"""Which exercise tree is in use, and how to import an exercise module from it.

The tree is `weeks` (the learner's copy, the default), `solutions`, or any directory laid out like them (the
invariant tests grade a fresh release of the stubs in a temporary directory). `pytest autograder --solutions`
chooses it, or the environment variable WORKBOOK_TARGET (`weeks`, `solutions` or a path).

The autograder (shared/grading/target.py) and `workbook compare --mine` both import the learner's code
through `import_exercise`, so both report a broken module the same way: file, line and error.
"""
from __future__ import annotations

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


def target_name() -> str:
    return os.environ.get(ENV_VAR, "weeks")


def target_root() -> Path:
    name = target_name()
    if name == "weeks":
        return WEEKS_DIR
    if name == "solutions":
        return SOLUTIONS_DIR
    return Path(name).resolve()


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


def import_exercise(week: str, name: str) -> types.ModuleType:
    """Import `<target>/<week>/<name>.py`. Raises ExerciseImportError with file and line if that fails."""
    package = package_name()
    path = (target_root() / week / f"{name}.py").resolve()
    if not path.exists():
        raise ExerciseImportError(f"{path} does not exist — expected the exercise file there.")
    try:
        return importlib.import_module(f"{package}.{week}.{name}")
    except NotImplementedError:
        raise  # a stub executed at import time: "not started", handled by the caller
    except Exception as error:  # SyntaxError included: any failure here is the learner's module, not the caller
        raise ExerciseImportError(_describe_import_failure(path, error)) from None
