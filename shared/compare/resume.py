"""Resuming an interrupted `workbook compare`: which rows of a run directory are finished, and loading them back.

A run directory holds `run.json`, the configuration it was started with (written atomically before any row), and
for each finished row `rows/<row id>.json`: the row of results.json plus the SHA-256 of its weights. A row's JSON
is written last, after its checkpoint and figures, so a `kill -9` at any moment leaves a row either finished or
absent. A row counts as finished, and is kept instead of trained again, when its JSON parses and matches the
results schema, names this row, and its checkpoint loads through shared.checkpoints as the same model, classes and
input, with the recorded weights, and its figures are on disk. Anything else is trained again, with a line saying
why. Rows that were skipped or failed are always run again (the exercise may have been fixed since).

Resuming is the default: `--out DIR` pointing at a run directory started with the same settings continues it
(training the same rows again with the same seed would only reproduce them), and `--resume DIR` continues it with
the settings saved in it, so nothing needs to be typed twice. A directory started with other settings is refused
with a sentence, never mixed.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

from shared.atomic import remove_stale, write_text
from shared.compare.config import CompareConfig

RUN_FILE = "run.json"
ROWS_DIR = "rows"
# Settings that do not change a finished row's numbers: they may differ between the interrupted run and its resume.
NOT_IN_KEY = ("out", "progress", "threads", "models", "frameworks", "mine", "data_efficiency")


# Fields of a row that the whole run decides after its last row (shared/compare/runner.py: assemble): a saved
# row has none, and a kept row gets them anew.
ADDED_LATER = ("spread",)


class ResumeError(ValueError):
    """The directory cannot be resumed: another run's settings, or a run.json that cannot be read."""


def _key(values: dict) -> dict:
    return {name: value for name, value in values.items() if name not in NOT_IN_KEY}


def saved_config(out_dir: str | os.PathLike) -> CompareConfig:
    """The configuration an interrupted run in `out_dir` was started with (for `--resume DIR`)."""
    path = Path(out_dir) / RUN_FILE
    if not path.is_file():
        raise ResumeError(f"{out_dir} is not a run directory of `workbook compare` that can be resumed: it has no "
                          f"{RUN_FILE}.")
    try:
        values = json.loads(path.read_text(encoding="utf-8"))["config"]
        values.pop("seed", None)  # recorded for readers (the first of "seeds"), not a setting of its own
        fields = {field.name for field in dataclasses.fields(CompareConfig)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ResumeError(f"{path} names settings this workbook does not have ({', '.join(unknown)}); start "
                              f"a new run with another --out.")
        values = {name: tuple(value) if isinstance(value, list) else value for name, value in values.items()}
        return CompareConfig(**{**values, "out": Path(out_dir)})  # JSON lists back to the config's tuples
    except ResumeError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise ResumeError(f"{path} cannot be read ({type(error).__name__}: {error}); delete {out_dir} or choose "
                          f"another --out.") from None


def prepare(out_dir: Path, config: CompareConfig) -> None:
    """Before any row: remove what killed writers left, refuse a directory of another run, record this run."""
    folders = [out_dir, out_dir / ROWS_DIR, out_dir / "figures", out_dir / "architecture",
               *(out_dir / "checkpoints").glob("*/")]
    removed = [path for folder in folders for path in remove_stale(folder)]  # only the folders a run writes
    if removed:
        print(f"removed {len(removed)} unfinished file(s) that an interrupted run left in {out_dir}", flush=True)
    path = out_dir / RUN_FILE
    wanted = _key(json.loads(json.dumps(config.as_dict())))
    if path.exists():
        previous = _key(saved_config(out_dir).as_dict())
        changed = [f"{name} {previous.get(name)!r}, not {wanted.get(name)!r}" for name in sorted(set(wanted) | set(previous))
                   if previous.get(name) != wanted.get(name)]
        if changed:
            raise ResumeError(f"{out_dir} holds a run started with other settings ({'; '.join(changed)}): continue "
                              f"it with `workbook compare --resume {out_dir}`, or choose another --out.")
        kept = len(list((out_dir / ROWS_DIR).glob("*.json"))) if (out_dir / ROWS_DIR).is_dir() else 0
        print(f"resuming the run in {out_dir}: {kept} finished row(s) on disk", flush=True)
        return
    write_text(path, json.dumps({"config": config.as_dict()}, indent=2) + "\n")
    print(f"if this run is interrupted, `workbook compare --resume {out_dir}` continues it", flush=True)


def _row_path(out_dir: Path, row_id: str) -> Path:
    return out_dir / ROWS_DIR / f"{row_id}.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _inside(out_dir: Path, relative) -> Path:
    """`out_dir / relative`, refusing paths that leave the run directory (a row JSON is not trusted)."""
    if not isinstance(relative, str):
        raise ValueError(f"expected a relative path, got {relative!r}")
    path = (out_dir / relative).resolve()
    if not path.is_relative_to(out_dir.resolve()):
        raise ValueError(f"{relative!r} points outside the run directory")
    return path


def save_row(row: dict, out_dir: Path) -> Path:
    """Record a finished ("ok") row: its results row and the SHA-256 of its weights, atomically, last."""
    from shared.compare.results import _plain

    weights = _inside(out_dir, row["checkpoint"]["file"])
    return write_text(_row_path(out_dir, row["id"]),
                      json.dumps({"row": _plain(row), "weights_sha256": _sha256(weights)}, indent=1) + "\n")


def _check_row(spec, dataset, out_dir: Path) -> dict:
    """The saved row of `spec`, checked; ValueError (or any error) says why it cannot be kept."""
    import jsonschema

    from shared.checkpoints import load_model
    from shared.compare.results import SCHEMA_PATH

    saved = json.loads(_row_path(out_dir, spec.row_id).read_text(encoding="utf-8"))
    row = saved["row"]
    schema = json.loads(SCHEMA_PATH.read_text())
    finished = schema["$defs"]["row"]["then"]
    finished["required"] = [name for name in finished["required"] if name not in ADDED_LATER]
    jsonschema.validate(row, {"$ref": "#/$defs/row", "$defs": schema["$defs"]})
    row = {name: value for name, value in row.items() if name not in ADDED_LATER}
    identity = {"id": spec.row_id, "model": spec.name, "framework": spec.framework, "impl": spec.impl, "status": "ok"}
    if any(row.get(key) != value for key, value in identity.items()):
        raise ValueError(f"it describes another row ({row.get('id')!r}, status {row.get('status')!r})")
    weights = _inside(out_dir, row["checkpoint"]["file"])
    if _sha256(weights) != saved["weights_sha256"]:
        raise ValueError(f"{weights.relative_to(out_dir.resolve())} is not the file saved with the row")
    _, manifest = load_model(weights.parent)
    if (manifest.name, manifest.framework, manifest.impl) != (spec.name, spec.framework, spec.impl):
        raise ValueError(f"its checkpoint holds {manifest.name}/{manifest.framework}/{manifest.impl}")
    if manifest.class_names != list(dataset.class_names) or manifest.input.as_dict() != row["input"]:
        raise ValueError("its checkpoint was trained on other classes or inputs")
    missing = [name for name in row["figures"].values() if not _inside(out_dir, name).is_file()]
    if missing:
        raise ValueError(f"its figure {missing[0]} is missing")
    empty = [name for name in row.get("tensorboard", []) if not any(_inside(out_dir, name).rglob("events.out.tfevents.*"))]
    if empty:
        raise ValueError(f"its TensorBoard folder {empty[0]} holds no event file")
    return row


def kept_row(spec, dataset, out_dir: Path) -> dict | None:
    """The finished row of `spec` from an interrupted run in `out_dir`, or None when it must be trained."""
    if spec.skip_reason or not _row_path(out_dir, spec.row_id).exists():
        return None
    try:
        row = _check_row(spec, dataset, out_dir)
    except Exception as error:  # noqa: BLE001 — whatever is wrong with a saved row, training it again fixes it
        reason = getattr(error, "message", None) or str(error) or type(error).__name__
        print(f"{spec.row_id}: training again: the saved row cannot be kept ({reason.splitlines()[0]})", flush=True)
        return None
    print(f"{spec.row_id}: kept from the interrupted run (test accuracy {100 * row['test_accuracy']:.1f}%)",
          flush=True)
    return row
