"""Checkpoints of the comparison rows, each with a manifest.json that says how to rebuild and feed the model.

`workbook predict`, the week-4 API and anyone else load a row with `load_checkpoint(directory)`.
Torch rows store a `state_dict` (written to a temporary file, then `os.replace`d: a crash never leaves half a
file) and load it with `torch.load(weights_only=True)`; Keras rows store a `.keras` file.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

MANIFEST = "manifest.json"
FILENAMES = {"torch": "model.pt", "keras": "model.keras"}


def save_weights(model, framework: str, directory: Path) -> Path:
    """Save atomically into `directory`; return the file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILENAMES[framework]
    temporary = directory / f".tmp-{os.getpid()}-{path.name}"  # same folder: os.replace is atomic there
    if framework == "torch":
        import torch

        torch.save(model.state_dict(), temporary)
    else:
        model.save(temporary)
    os.replace(temporary, path)
    return path


def write_manifest(directory: Path, **fields) -> Path:
    """fields: name, framework, impl, num_classes, input_shape, class_names, preprocessing{mean,std,size}, ..."""
    path = directory / MANIFEST
    path.write_text(json.dumps(fields, indent=2) + "\n")
    return path


def load_checkpoint(directory: str | os.PathLike):
    """(model, manifest) from a checkpoint directory written by `workbook compare`."""
    from shared.registry import create_model

    directory = Path(directory)
    manifest = json.loads((directory / MANIFEST).read_text())
    weights = directory / manifest["file"]
    if manifest["framework"] == "keras":
        import keras

        return keras.models.load_model(weights), manifest
    import torch

    model = create_model(manifest["name"], "torch", manifest["impl"], num_classes=manifest["num_classes"],
                         input_shape=tuple(manifest["input_shape"]))
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval(), manifest
