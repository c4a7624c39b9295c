"""How a released exercise opens as a notebook: the few jupytext cells `workbook release` adds to each stub.

In Jupyter (with jupytext installed), `weeks/weekN/<exercise>.py` opens as a notebook and saving writes the .py
back: the learner's work lands in the file that `pytest autograder` grades, with nothing to sync by hand. The .py is
read in jupytext's "light" format (cells split at blank lines); the cells added here use its *active* cells, which
change nothing for Python:

- `# + active="ipynb"` cells are comments in the .py and code in the notebook: a set-up cell at the top (the
  repository root on `sys.path`, and `__package__` so that `from .backprop import ...` works as under
  `python -m weeks.week1.train_mlp`), and the last cell, which runs the exercise's autograder tests;
- `# + active="py"` cells are code in the .py and raw (not run) cells in the notebook: the `if __name__ ==
  "__main__":` block, so that "Run all" does not start a training run from the kernel's command line.
"""
from __future__ import annotations

import re
from pathlib import PurePosixPath

from shared.paths import REPO_ROOT

MAIN_GUARD = re.compile(r'^if __name__ == ["\']__main__["\']:\s*$', re.MULTILINE)

SETUP = '''# + active="ipynb"
# # Notebook set-up (a comment in the .py file): find the workbook from the repository root, and let
# # `from .x import y` lines import your other {week} files, as `python -m weeks.{week}.{name}` does.
# import sys, pathlib; sys.path.insert(0, str(pathlib.Path.cwd().parents[1]))
# __package__ = "weeks.{week}"
# -

'''

GRADE = '''

# ## Check your work
# The cell below runs this exercise's autograder tests on `weeks/{week}/{name}.py` as saved, and prints the
# scoreboard: save the notebook first (Ctrl+S). From a terminal: `pytest autograder/{week}/test_{name}.py`.

# + active="ipynb"
# from shared.grading.notebook import grade
# grade("{week}", "{name}", globals())
'''


def _script_only_main_guard(source: str) -> str:
    """Wrap the `if __name__ == "__main__":` block (the file's last top-level block) as a script-only cell."""
    match = MAIN_GUARD.search(source)
    if match is None:
        return source
    block = source[match.start():].rstrip("\n")
    if any(line and not line[0].isspace() for line in block.splitlines()[1:]):
        return source  # not the last top-level block: leave it as it is rather than guess where it ends
    return source[:match.start()] + '# + active="py"\n' + block + "\n# -\n"


def add_notebook_cells(stub: str, relative: str) -> str:
    """The stub of `solutions/<relative>` with its notebook cells; Python sees only comments added."""
    path = PurePosixPath(relative)
    if len(path.parts) != 2:
        return stub  # not an exercise of a week (e.g. the package's __init__.py)
    week, name = path.parts[0], path.stem
    text = SETUP.format(week=week, name=name) + _script_only_main_guard(stub)
    if (REPO_ROOT / "autograder" / week / f"test_{name}.py").exists():
        text = text.rstrip("\n") + "\n" + GRADE.format(week=week, name=name)
    return text
