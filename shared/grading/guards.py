"""What the process that grades one exercise watches for, so that a module cannot fool its own tests.

Installed before the learner's module is imported (shared/grading/child.py):
- `Tampering.check()` compares the libraries and the grader's own functions with a snapshot taken before the
  learner's code ran: a module that replaces `torch.nn.functional.cross_entropy` or `numpy.allclose` (the
  tests' references) or a function of the grader is caught by name;
- WORKBOOK_TARGET is pinned (`shared.exercises.pin_target`), and a change to it is reported;
- an audit hook (PEP 578, which Python code cannot remove) refuses to open the reference solution of the
  exercise being graded: importing it, reading it or copying it fails, and is reported.

What they report is a flag: the parent scores that exercise 0 and shows why. Nothing here can stop code that
sets out to defeat the grader from inside its own process (see the README's trust model).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from shared import exercises
from shared.paths import SOLUTIONS_DIR

# Modules whose functions decide grades: the libraries the tests compare against, and the grader itself.
WATCHED = (
    "builtins", "math", "os", "numpy", "numpy.linalg", "numpy.testing", "torch", "torch.nn", "torch.nn.functional",
    "torch.nn.init", "torch.optim", "torch.autograd", "torch.linalg", "pytest", "_pytest.outcomes",
    "_pytest.runner", "_pytest.reports", "shared.exercises", "shared.grading.checks", "shared.grading.target",
    "shared.grading.plugin", "shared.grading.child", "shared.grading.guards", "shared.grading.budget",
)
WATCHED_CLASSES = (("torch", "Tensor"), ("torch.nn", "Module"), ("torch.optim", "Optimizer"))


def _namespaces() -> dict[str, dict]:
    spaces = {name: vars(sys.modules[name]) for name in WATCHED if name in sys.modules}
    for module, cls in WATCHED_CLASSES:
        if module in sys.modules and hasattr(sys.modules[module], cls):
            spaces[f"{module}.{cls}"] = vars(getattr(sys.modules[module], cls))
    return spaces


def _snapshot() -> dict[str, dict]:
    return {space: {name: value for name, value in entries.items()
                    if callable(value) or isinstance(value, type(os))}
            for space, entries in _namespaces().items()}


def _code_file(obj) -> str:
    for attribute in ("__func__", "func"):  # bound methods, functools.partial
        obj = getattr(obj, attribute, obj)
    code = getattr(obj, "__code__", None)
    if code is not None:
        return code.co_filename
    module = sys.modules.get(getattr(obj, "__module__", None) or getattr(type(obj), "__module__", ""))
    return getattr(module, "__file__", None) or ""


def _transparent(old, new) -> bool:
    """A library's own wrapper around the same function (torch._dynamo wraps torch.manual_seed when it loads)."""
    if new is None or getattr(new, "__wrapped__", None) is not old:
        return False
    return not Path(_code_file(new) or "/").resolve().is_relative_to(exercises.target_root())


def _preload() -> None:
    """Import what rebinds library functions when it loads, so that it does so before the snapshot."""
    if "torch" in sys.modules:
        import torch._dynamo  # noqa: F401 — torch.optim loads it on the first step; it wraps torch.manual_seed


class Tampering:
    """Snapshot now; `check()` names whatever was replaced or deleted since."""

    def __init__(self):
        _preload()
        self.snapshot = _snapshot()
        self.environ = os.environ
        self.target = exercises.target_name()
        self.reported: set[str] = set()

    def problems(self) -> list[str]:
        found = []
        current = _namespaces()
        for space, entries in self.snapshot.items():
            now = current.get(space, {})
            changed = [name for name, value in entries.items()
                       if now.get(name, None) is not value and not _transparent(value, now.get(name, None))]
            found += [f"replaced {space}.{name}" for name in changed[:3]]
        if os.environ is not self.environ:
            found.append("replaced os.environ")
        elif os.environ.get(exercises.ENV_VAR, self.target) != self.target:
            found.append(f"set {exercises.ENV_VAR}={os.environ.get(exercises.ENV_VAR)!r} (the tree being graded)")
        return found

    def check(self) -> list[str]:
        """New problems since the last check."""
        new = [p for p in self.problems() if p not in self.reported]
        self.reported |= set(new)
        return new


class ReferenceLock:
    """An audit hook that refuses to open the reference solution of the exercise being graded."""

    def __init__(self, week: str, name: str):
        self.week, self.name = week, name
        folder = (SOLUTIONS_DIR / week).resolve()
        self.source = str(folder / f"{name}.py")
        self.cache_prefix = str(folder / "__pycache__" / f"{name}.")
        self.attempts: list[str] = []

    def install(self) -> None:
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple) -> None:
        if event != "open" or not args or not isinstance(args[0], (str, bytes, os.PathLike)):
            return
        try:
            path = os.path.realpath(os.fsdecode(args[0]))
        except (TypeError, ValueError):
            return
        if path == self.source or path.startswith(self.cache_prefix):
            self.attempts.append(path)
            raise PermissionError(f"the autograder grades your own code: opening the reference solution "
                                  f"solutions/{self.week}/{self.name}.py is not allowed while it is graded")

    def problems(self) -> list[str]:
        return [f"tried to open the reference solution solutions/{self.week}/{self.name}.py"] if self.attempts else []


def install(week: str, name: str) -> tuple[Tampering, ReferenceLock | None]:
    """Pin the target and start watching; call before the learner's module is imported."""
    exercises.grade_only(week, name)
    lock = None
    if not exercises.is_reference():
        lock = ReferenceLock(week, name)
        lock.install()
    return Tampering(), lock


def describe(problems: list[str]) -> str:
    return ("your code " + "; ".join(problems) + ". The autograder cannot grade an exercise whose code changes the "
            "libraries or the grader its tests rely on, or uses the reference solution: this exercise scores 0 "
            "until that code is removed.")

