"""The test images the demo page offers: a few per class from a run's test split, saved with the run.

    write_samples(out_dir, dataset)          # by `workbook compare`: reports/<run>/samples/{index.json, 0.png, ...}
    samples = read_samples(run_dir)          # by `workbook serve --run`: [Sample(id, label, png), ...]

A run written before the samples existed has none; for the `shapes` dataset (generated from a seed, offline) they
are made again from results.json's config, the same split the run was tested on. Other datasets: none, and the
page says so.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.atomic import write_bytes, write_text

FOLDER = "samples"
INDEX = "index.json"
PER_CLASS = 2
LIMIT = 24          # the page shows them six to a row
MAX_PNG_BYTES = 2_000_000


@dataclass(frozen=True)
class Sample:
    id: str
    label: str
    png: bytes

    def as_dict(self) -> dict:
        return {"id": self.id, "label": self.label, "url": f"/samples/{self.id}.png"}


def pick(labels: np.ndarray, per_class: int = PER_CLASS, limit: int = LIMIT) -> list[int]:
    """Indices of the first `per_class` images of each class, taken class by class in turns, at most `limit`."""
    labels = np.asarray(labels)
    by_class = [np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)]
    order = [int(group[turn]) for turn in range(per_class) for group in by_class if turn < len(group)]
    return order[:limit]


def _png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, np.uint8).squeeze()).save(buffer, format="PNG")
    return buffer.getvalue()


def from_split(images: np.ndarray, labels: np.ndarray, class_names, per_class: int = PER_CLASS,
               limit: int = LIMIT) -> list[Sample]:
    return [Sample(str(n), str(class_names[labels[i]]), _png(images[i]))
            for n, i in enumerate(pick(labels, per_class, limit))]


def write_samples(out_dir, dataset, per_class: int = PER_CLASS, limit: int = LIMIT) -> Path:
    """Save a few test images of `dataset` (DatasetSplits) under out_dir/samples/; return the index's path."""
    folder = Path(out_dir) / FOLDER
    samples = from_split(dataset.test.images, dataset.test.labels, dataset.class_names, per_class, limit)
    for sample in samples:
        write_bytes(folder / f"{sample.id}.png", sample.png)
    index = {"dataset": dataset.name, "images": [{"file": f"{s.id}.png", "label": s.label} for s in samples]}
    return write_text(folder / INDEX, json.dumps(index, indent=2) + "\n")


def _read_index(folder: Path) -> list[Sample]:
    """The saved samples; ValueError with a sentence when the index is not what write_samples writes."""
    try:
        index = json.loads((folder / INDEX).read_text(encoding="utf-8"))
        entries = index["images"]
        if not isinstance(entries, list) or len(entries) > 1000:
            raise ValueError("'images' must be a list of at most 1,000 entries")
        samples = []
        for number, entry in enumerate(entries):
            name, label = entry["file"], entry["label"]
            if not (isinstance(name, str) and isinstance(label, str) and Path(name).name == name
                    and name.endswith(".png")):
                raise ValueError(f"entry {number} must name a .png file in the folder and its label")
            path = folder / name
            if path.stat().st_size > MAX_PNG_BYTES:
                raise ValueError(f"{name} is larger than {MAX_PNG_BYTES:,} bytes")
            samples.append(Sample(str(number), label, path.read_bytes()))
        return samples
    except (OSError, KeyError, TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"{folder / INDEX} cannot be read ({type(error).__name__}: {error})") from None


def _regenerated(config: dict) -> list[Sample]:
    from shared.data import load_dataset

    dataset = load_dataset("shapes", size=config.get("size"), image_size=config.get("image_size"),
                           seed=int(config.get("seed", 0)), progress=False)
    return from_split(dataset.test.images, dataset.test.labels, dataset.class_names)


def read_samples(run_dir, results: dict | None = None) -> tuple[list[Sample], str | None]:
    """(samples, note): the run's saved test images; a shapes run without them regenerates them from its config.
    The note says in a sentence why there are none (or None)."""
    folder = Path(run_dir) / FOLDER
    if (folder / INDEX).is_file():
        try:
            return _read_index(folder), None
        except ValueError as error:
            return [], f"the run's test images cannot be shown: {error}"
    config = (results or {}).get("config") or {}
    if config.get("dataset") == "shapes":
        try:
            return _regenerated(config), None
        except (TypeError, ValueError) as error:
            return [], f"the shapes test images could not be made again from results.json ({error})"
    return [], (f"this run saved no test images ({folder} is missing): upload an image, or run "
                f"`workbook compare` again to save some")
