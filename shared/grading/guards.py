"""What the process that grades one exercise watches for, so that a module cannot fool its own tests.

Installed before the learner's module is imported (shared/grading/child.py):
- `Tampering.check()` compares the libraries and the grader's own functions with a snapshot taken before the
  learner's code ran: a module that replaces `torch.nn.functional.cross_entropy` or `numpy.allclose` (the
  tests' references) or a function of the grader is caught by name;
- WORKBOOK_TARGET is pinned (`shared.exercises.pin_target`), and a change to it is reported;
- an audit hook (PEP 578, which Python code cannot remove) refuses to open the reference solution of the
  exercise being graded (importing it, reading it or copying it fails), or to write the grades file, the tests or
  the grader, and reports the attempt.

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
LIBRARY_STATE = {"torch": {"Storage"}}  # rebound by the libraries themselves (torch.set_default_dtype)


def _namespaces() -> dict[str, dict]:
    spaces = {name: vars(sys.modules[name]) for name in WATCHED if name in sys.modules}
    for module, cls in WATCHED_CLASSES:
        if module in sys.modules and hasattr(sys.modules[module], cls):
            spaces[f"{module}.{cls}"] = vars(getattr(sys.modules[module], cls))
    return spaces


def _snapshot() -> dict[str, dict]:
    return {space: {name: value for name, value in entries.items()
                    if (callable(value) or isinstance(value, type(os))) and name not in LIBRARY_STATE.get(space, ())}
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


class AuditGuard:
    """An audit hook (PEP 578: Python code cannot remove it) that refuses, and reports, two kinds of access:
    opening the reference solution of the exercise being graded (importing, reading or copying it), and writing
    the grades file or the grader's own files (the tests, shared/grading)."""

    WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC

    def __init__(self, week: str, name: str, protected: list[Path], lock_reference: bool):
        folder = (SOLUTIONS_DIR / week).resolve()
        self.week, self.name = week, name
        self.reference = (str(folder / f"{name}.py"), str(folder / "__pycache__" / f"{name}.")) if lock_reference else ()
        self.protected = [str(Path(p).resolve()) for p in protected]
        self.attempts: list[str] = []

    def install(self) -> None:
        sys.addaudithook(self._hook)

    def _path(self, value) -> str | None:
        if not isinstance(value, (str, bytes, os.PathLike)):
            return None
        try:
            return os.path.realpath(os.fsdecode(value))
        except (TypeError, ValueError):
            return None

    def _hook(self, event: str, args: tuple) -> None:
        if event == "open" and args:
            path = self._path(args[0])
            if path is None:
                return
            if self.reference and (path == self.reference[0] or path.startswith(self.reference[1])):
                self._refuse(f"tried to open the reference solution solutions/{self.week}/{self.name}.py")
            mode, flags = (args[1] if len(args) > 1 else "r") or "r", (args[2] if len(args) > 2 else 0) or 0
            if (any(c in str(mode) for c in "wax+") or flags & self.WRITE_FLAGS) and self._protected(path):
                self._refuse(f"tried to write {path}")
        elif event in ("os.rename", "os.replace", "os.remove", "os.unlink", "shutil.rmtree") and args:
            paths = [self._path(a) for a in args[:2]]
            if any(p and self._protected(p) for p in paths):
                self._refuse(f"tried to change {next(p for p in paths if p and self._protected(p))}")

    def _protected(self, path: str) -> bool:
        return any(path == p or path.startswith(p + os.sep) for p in self.protected)

    def _refuse(self, what: str) -> None:
        self.attempts.append(what)
        raise PermissionError(f"the autograder does not allow this while it grades your code: your code {what}")

    def problems(self) -> list[str]:
        return sorted(set(self.attempts))


def install(week: str, name: str, protected: list[Path]) -> tuple[Tampering, AuditGuard]:
    """Pin the target and start watching; call before the learner's module is imported. `protected`: files and
    folders the learner's code may not write (the grades file, the tests, the grader)."""
    exercises.grade_only(week, name)
    guard = AuditGuard(week, name, protected, lock_reference=not exercises.is_reference())
    guard.install()
    return Tampering(), guard


def describe(problems: list[str]) -> str:
    return ("your code " + "; ".join(problems) + ". The autograder cannot grade an exercise whose code changes the "
            "libraries or the grader its tests rely on, or uses the reference solution: this exercise scores 0 "
            "until that code is removed.")

