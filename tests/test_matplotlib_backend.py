"""No module of shared/ chooses a matplotlib backend: a notebook keeps its inline backend (and so its figures),
a headless run gets Agg from matplotlib itself. Choosing one at import once made week 2's lesson lose 2 of 4 figures."""
from __future__ import annotations

import ast
import os
import subprocess
import sys

from shared.paths import REPO_ROOT

PLOTTING = ("shared.plots", "shared.compare.figures", "shared.data.preview", "shared.interpret.overlay",
            "shared.architecture.diagram")


def _chooses_a_backend(node: ast.AST) -> bool:
    """`matplotlib.use(...)`, `plt.switch_backend(...)`, `rcParams["backend"] = ...`, `os.environ["MPLBACKEND"] = ...`."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr == "switch_backend":
            return True
        if node.func.attr == "use" and isinstance(node.func.value, ast.Name) and node.func.value.id in ("matplotlib", "mpl"):
            return True
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
        key = node.slice
        return isinstance(key, ast.Constant) and key.value in ("backend", "MPLBACKEND")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("setdefault", "putenv"):
        return any(isinstance(arg, ast.Constant) and arg.value == "MPLBACKEND" for arg in node.args[:1])
    if isinstance(node, ast.Dict):   # an environment handed to a subprocess
        return any(isinstance(key, ast.Constant) and key.value == "MPLBACKEND" for key in node.keys)
    return False   # reading it, or removing it so that a notebook's kernel keeps its inline backend, is allowed


def test_the_check_tells_choosing_from_removing():
    choose = ['os.environ["MPLBACKEND"] = "Agg"', 'os.environ.setdefault("MPLBACKEND", "Agg")', 'matplotlib.use("Agg")',
              'plt.switch_backend("agg")', 'subprocess.run(cmd, env={"MPLBACKEND": "Agg"})']
    leave = ['os.environ.pop("MPLBACKEND", None)', 'print(os.environ.get("MPLBACKEND"))']
    assert all(any(_chooses_a_backend(n) for n in ast.walk(ast.parse(code))) for code in choose)
    assert not any(_chooses_a_backend(n) for code in leave for n in ast.walk(ast.parse(code)))


def test_no_module_of_shared_names_a_backend():
    offenders = []
    for path in sorted((REPO_ROOT / "shared").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        offenders += [f"{path.relative_to(REPO_ROOT)}:{node.lineno}" for node in ast.walk(tree) if _chooses_a_backend(node)]
    assert not offenders, f"these lines choose a matplotlib backend; leave it to the notebook or matplotlib: {offenders}"


def test_importing_the_plotting_modules_leaves_the_backend_undecided():
    code = ("import matplotlib, matplotlib.rcsetup\n"
            + "".join(f"import {name}\n" for name in PLOTTING)
            + "assert matplotlib.rcParams._get('backend') is matplotlib.rcsetup._auto_backend_sentinel, "
              "matplotlib.rcParams._get('backend')\n")
    env = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
    env["PYTHONPATH"] = str(REPO_ROOT)
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
