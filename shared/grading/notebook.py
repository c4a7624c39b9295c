"""The last cell of an exercise opened as a notebook: grade the exercise's file and print the scoreboard.

`weeks/weekN/<exercise>.py` opens as a notebook through jupytext (see shared/notebook_cells.py), so the notebook
*is* the file `pytest autograder` grades. `grade()` runs that exercise's autograder tests on the file as saved, in a
fresh pytest process, and prints the same scoreboard lines as `pytest autograder/weekN/test_<exercise>.py`. Given
the notebook's namespace, it also names the functions whose saved code differs from what the kernel last ran (the
usual cause: the notebook was not saved).
"""
from __future__ import annotations

import ast
import inspect
from pathlib import Path


def _target() -> tuple[str, Path]:
    try:  # issue 11 moves the target's resolution to shared/exercises.py
        from shared.exercises import target_name, target_root
    except ImportError:
        from shared.grading.target import target_name, target_root
    return target_name(), target_root()


def unsaved_functions(path: Path, namespace: dict) -> list[str]:
    """Top-level functions whose code in `path` differs from the same-named function defined in the notebook."""
    saved = {node.name: ast.dump(node) for node in ast.parse(path.read_text()).body
             if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    differ = []
    for name, dumped in saved.items():
        function = namespace.get(name)
        if not inspect.isfunction(function) or function.__module__ != "__main__":
            continue  # not defined by the notebook (or not yet run): nothing to compare
        try:
            ran = ast.parse(inspect.getsource(function).strip()).body[0]
        except (OSError, TypeError, SyntaxError, IndexError):
            continue
        if ast.dump(ran) != dumped:
            differ.append(name)
    return differ


def grade(week: str, exercise: str, namespace: dict | None = None, grades_json: str | Path | None = None) -> None:
    """Run `autograder/<week>/test_<exercise>.py` on the exercise as saved and print the scoreboard. Grades go to
    `grades_json`, else where `pytest autograder` writes them (.workbook/grades.json)."""
    from shared.grading.runner import run_tests, exercise_tests

    name, root = _target()
    path = root / week / f"{exercise}.py"
    stale = unsaved_functions(path, namespace) if namespace is not None and path.exists() else []
    if stale:
        print(f"Note: {path.name} as saved differs from what this notebook last ran in: {', '.join(stale)}.\n"
              f"The grade below is for the file as saved; if you edited those cells, save (Ctrl+S) and run this "
              f"cell again.\n")
    run = run_tests([exercise_tests(week, exercise)], target=name, grades_json=Path(grades_json) if grades_json else None)
    print(run.scoreboard() or f"The autograder did not finish:\n{run.output[-3000:]}")
