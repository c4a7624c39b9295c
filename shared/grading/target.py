"""How autograder tests reach the exercise they grade: `tensors = exercise("week1", "tensors")`.

The tree being graded (weeks/, solutions/ or a path) and the import itself live in `shared.exercises`.
"""
from __future__ import annotations

import types

from shared.exercises import ExerciseImportError, import_exercise


_IMPORTED: list = []  # callbacks run once a module imported (the grading process tells its parent)


def on_imported(callback) -> None:
    _IMPORTED.append(callback)


class LazyExercise:
    """A stand-in for an exercise module that imports it on first use, inside a test.

    Test files write `tensors = exercise("week1", "tensors")` at the top. A broken module then fails each of
    its tests with the file and line, instead of breaking the collection of the whole autograder.
    """

    def __init__(self, week: str, name: str):
        self._week, self._name = week, name

    def module(self) -> types.ModuleType:
        import pytest

        try:
            module = import_exercise(self._week, self._name)
        except ExerciseImportError as error:
            message = str(error)
        else:
            while _IMPORTED:
                _IMPORTED.pop()()
            return module
        pytest.fail(message, pytrace=False)  # outside `except`, so no chained traceback is shown

    def __getattr__(self, attribute: str):
        if attribute.startswith("_") or attribute == "pytestmark":
            raise AttributeError(attribute)  # pytest's collection probes these; don't import for them
        module = self.module()
        if not hasattr(module, attribute):
            import pytest

            pytest.fail(
                f"{module.__file__} has no `{attribute}` — the exercise expects a function or class of that name "
                f"(was it renamed or deleted?).",
                pytrace=False,
            )
        return getattr(module, attribute)


def exercise(week: str, name: str) -> LazyExercise:
    return LazyExercise(week, name)
