"""What `workbook serve` serves: one checkpoint, or every row of a `workbook compare` run.

    served = load_run("reports/<run>")            # every row whose checkpoint loads, in results.json's order
    served = load_checkpoint("reports/<run>/checkpoints/cnn-torch-reference")   # one row
    served.rows["cnn-torch-reference"].predictor.predict(image)

A row is found by its directory under <run>/checkpoints/ (never by a path written in results.json, which could
point anywhere); results.json adds its description and test accuracy. A row whose checkpoint cannot be loaded is
left out with a sentence in `served.skipped`; a run with no loadable row is a ServeError.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from shared.checkpoints import MANIFEST, CheckpointError
from shared.predictor import Predictor, load_predictor
from shared.web.samples import Sample, read_samples

RESULTS = "results.json"
CHECKPOINTS = "checkpoints"
MAX_RESULTS_BYTES = 50_000_000


class ServeError(ValueError):
    """Nothing to serve: the sentence says why."""


@dataclass
class Row:
    id: str
    predictor: Predictor
    description: str = ""
    test_accuracy: float | None = None

    def as_dict(self) -> dict:
        manifest = self.predictor.manifest
        from shared.interpret.gradcam import GRADCAM_KEY
        from shared.registry import get_entry

        layer = get_entry(manifest.name, manifest.framework, manifest.impl).info.get(GRADCAM_KEY)
        return {"id": self.id, "model": manifest.name, "framework": manifest.framework, "impl": manifest.impl,
                "description": self.description, "input_shape": list(manifest.input.shape),
                "test_accuracy": self.test_accuracy, "gradcam_layer": None if layer is None else str(layer),
                "knows_training_images": manifest.training_stats is not None}


@dataclass
class Served:
    name: str
    rows: dict[str, Row]
    samples: list[Sample] = field(default_factory=list)
    samples_note: str | None = None
    skipped: list[str] = field(default_factory=list)     # "row: why", one per row left out
    dataset: str = ""

    @property
    def class_names(self) -> list[str]:
        return next(iter(self.rows.values())).predictor.class_names


def _results(run: Path) -> dict:
    path = run / RESULTS
    if not path.is_file():
        return {}
    try:
        if path.stat().st_size > MAX_RESULTS_BYTES:
            raise ValueError(f"larger than {MAX_RESULTS_BYTES:,} bytes")
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as error:
        raise ServeError(f"{path} cannot be read ({error}): is this a run written by `workbook compare`?") from None
    if not isinstance(results, dict) or not isinstance(results.get("rows", []), list):
        raise ServeError(f"{path} is not a results file of `workbook compare` (no list of rows)")
    return results


def _row_info(results: dict) -> dict[str, dict]:
    rows = results.get("rows", [])
    return {row["id"]: row for row in rows if isinstance(row, dict) and isinstance(row.get("id"), str)}


def _accuracy(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1 else None


def load_run(run_dir) -> Served:
    """Every servable row of the run in `run_dir`; ServeError when there is none."""
    run = Path(run_dir)
    if not run.is_dir():
        raise ServeError(f"{run} is not a directory: point --run at reports/<run>, written by `workbook compare`")
    results = _results(run)
    info = _row_info(results)
    folder = run / CHECKPOINTS
    found = sorted(p.name for p in folder.iterdir() if (p / MANIFEST).is_file()) if folder.is_dir() else []
    order = [row_id for row_id in info if row_id in found] + [row_id for row_id in found if row_id not in info]
    rows, skipped = {}, []
    for row_id in order:
        try:
            predictor = load_predictor(folder / row_id)
        except CheckpointError as error:
            skipped.append(f"{row_id}: {error}")
            continue
        meta = info.get(row_id, {})
        description = meta.get("description") if isinstance(meta.get("description"), str) else ""
        rows[row_id] = Row(row_id, predictor, description, _accuracy(meta.get("test_accuracy")))
    if not rows:
        why = "; ".join(skipped) if skipped else f"{folder} holds no checkpoint (no */{MANIFEST})"
        raise ServeError(f"nothing to serve in {run}: {why}")
    samples, note = read_samples(run, results)
    dataset = results.get("dataset", {}).get("name", "") if isinstance(results.get("dataset"), dict) else ""
    dataset = dataset or next(iter(rows.values())).predictor.manifest.dataset
    return Served(run.name, rows, samples, note, skipped, dataset)


def load_checkpoint(directory) -> Served:
    """One checkpoint directory as a run of one row (CheckpointError when it cannot be loaded)."""
    predictor = load_predictor(directory)
    row_id = Path(directory).resolve().name
    accuracy = _accuracy(predictor.manifest.metrics.get("test_accuracy"))
    note = "this server has one checkpoint and no test images: upload an image"
    return Served(row_id, {row_id: Row(row_id, predictor, "", accuracy)}, [], note, [], predictor.manifest.dataset)


def from_predictor(predictor: Predictor, row_id: str = "model") -> Served:
    return Served(row_id, {row_id: Row(row_id, predictor)}, [], None, [], predictor.manifest.dataset)
