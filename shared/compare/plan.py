"""Which rows a run has: every requested model × framework registered as the reference, and with --mine the
learner's own implementation of each (from weeks/, or the tree WORKBOOK_TARGET names), or why it is skipped."""
from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path

from shared import registry
from shared.compare.config import CompareConfig, check_choices
from shared.paths import REPO_ROOT

SHARED_DIR = REPO_ROOT / "shared"


@dataclass
class RowSpec:
    name: str
    framework: str
    impl: str                          # "reference" or "mine"
    entry: registry.ModelEntry | None  # None when the row is skipped before it starts
    skip_reason: str | None = None

    @property
    def row_id(self) -> str:
        return f"{self.name}-{self.framework}-{self.impl}"


def where_raised(error: BaseException) -> str:
    """`weeks/week2/cnn.py:41 in build_cnn`: the innermost frame outside shared/ (the learner's code)."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if _is_exercise_code(f.filename)]
    if not frames:
        return ""
    frame = frames[-1]
    return f"{short_path(frame.filename)}:{frame.lineno} in {frame.name}"


def _is_exercise_code(filename: str) -> bool:
    return not (filename.startswith(str(SHARED_DIR)) or "site-packages" in filename or "/lib/python" in filename)


def short_path(filename: str) -> str:
    path = Path(filename)
    for anchor in ("weeks", "solutions"):
        if anchor in path.parts:
            return "/".join(path.parts[path.parts.index(anchor):])
    return str(path)


def describe_failure(error: BaseException) -> tuple[str, str]:
    """(status, reason): an unfinished exercise is 'skipped', any other error 'failed'."""
    where = where_raised(error)
    if isinstance(error, NotImplementedError):
        return "skipped", f"not implemented yet ({where or 'an exercise'} raises NotImplementedError)"
    if isinstance(error, RuntimeError) and str(error).startswith("could not download the pretrained weights"):
        return "skipped", str(error)  # an online backbone without its cached weights: not the model's fault
    return "failed", f"{type(error).__name__}: {error}" + (f" (at {where})" if where else "")


def _mine(reference: registry.ModelEntry) -> RowSpec:
    """The learner's counterpart of a reference entry: import weeks/<week>/<module>.py, which registers it."""
    from shared.exercises import ExerciseImportError, import_exercise

    _, week, module = reference.builder.__module__.split(".")[:3]
    spec = RowSpec(reference.name, reference.framework, "mine", None)
    try:
        import_exercise(week, module)
        spec.entry = registry.get_entry(reference.name, reference.framework, "mine")
    except ExerciseImportError as error:
        spec.skip_reason = f"cannot import the exercise: {error}"
    except NotImplementedError as error:
        spec.skip_reason = describe_failure(error)[1]
    except ValueError:
        spec.skip_reason = f"{week}/{module}.py registers no {reference.framework} model named {reference.name!r}"
    return spec


def plan_rows(config: CompareConfig) -> tuple[list[RowSpec], list[str]]:
    """(rows, notes): notes name the requested combinations that no reference model provides."""
    check_choices("--models", config.models, registry.list_models())
    rows, notes = [], []
    for name in config.models:
        for framework in config.frameworks:
            if name not in registry.list_models(framework):
                notes.append(f"no {framework} implementation of {name!r} is registered")
                continue
            reference = registry.get_entry(name, framework)
            if "trainer" not in reference.info:
                notes.append(f"{name}/{framework} registers no trainer, so it cannot be a row (a pretrained "
                             f"backbone on its own? its transfer_* entry trains it)")
                continue
            rows.append(RowSpec(name, framework, "reference", reference))
            if config.mine and reference.builder.__module__.startswith("solutions."):
                rows.append(_mine(reference))
            elif config.mine:
                notes.append(f"{name}/{framework} is shared infrastructure ({reference.builder.__module__}): "
                             f"there is no learner version of it")
    return rows, notes
