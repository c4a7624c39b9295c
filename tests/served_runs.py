"""Small real runs for the API and page tests: checkpoints saved with shared.checkpoints.save_model, a results.json
and the run's test images, as `workbook compare` writes them, in seconds and without training.

    run_dir = make_run(tmp_path, [("cnn", "torch"), ("lstm", "torch")])
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from shared.checkpoints import Manifest, save_model
from shared.data import input_spec, load_dataset
from shared.ood import training_stats
from shared.registry import create_model
from shared.web.samples import write_samples

SIZE = 200      # shapes images in the run's dataset (160 train / 20 val / 20 test)


def shapes_dataset(size: int = SIZE, seed: int = 0):
    return load_dataset("shapes", size=size, image_size=32, seed=seed, progress=False)


def confident(model, class_index: int = 0, framework: str = "torch"):
    """Make `model` answer `class_index` with near certainty (a large bias on its last layer)."""
    if framework == "torch":
        import torch

        last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
        with torch.no_grad():
            last.bias[class_index] += 30.0
    else:
        last = model.layers[-1]
        kernel, bias = last.get_weights()
        bias[class_index] += 30.0
        last.set_weights([kernel, bias])
    return model


def build(name: str, framework: str, dataset, seed: int = 0):
    import torch

    torch.manual_seed(seed)
    if framework == "keras":
        import keras

        keras.utils.set_random_seed(seed)
    model = create_model(name, framework, num_classes=dataset.num_classes, input_shape=dataset.image_shape)
    return model.eval() if framework == "torch" else model


def save_row(run_dir: Path, row_id: str, model, name: str, framework: str, dataset, stats=True) -> Path:
    spec = input_spec(dataset.image_shape, dataset.mean, dataset.std)
    manifest = Manifest(name=name, framework=framework, impl="reference", class_names=list(dataset.class_names),
                        input=spec, dataset=dataset.name, metrics={"test_accuracy": 0.5},
                        training_stats=training_stats(dataset.train.images) if stats else None)
    directory = run_dir / "checkpoints" / row_id
    save_model(directory, model, manifest)
    return directory


def make_run(root, rows, dataset=None, samples: bool = True, confident_rows: bool = True) -> Path:
    """A run directory under `root` with one row per (model, framework) and a results.json naming them."""
    dataset = dataset or shapes_dataset()
    run_dir = Path(root) / "run"
    results_rows = []
    for index, (name, framework) in enumerate(rows):
        row_id = f"{name}-{framework}-reference"
        model = build(name, framework, dataset, seed=index)
        if confident_rows:
            confident(model, index % dataset.num_classes, framework)
        save_row(run_dir, row_id, model, name, framework, dataset)
        results_rows.append({"id": row_id, "model": name, "framework": framework, "impl": "reference",
                             "status": "ok", "description": f"{name} in {framework}",
                             "test_accuracy": round(0.4 + 0.1 * index, 2)})
    results = {"config": {"dataset": "shapes", "size": SIZE, "image_size": 32, "seed": 0},
               "dataset": {"name": "shapes"}, "rows": results_rows}
    (run_dir / "results.json").write_text(json.dumps(results), encoding="utf-8")
    if samples:
        write_samples(run_dir, dataset)
    return run_dir


def noise_image(seed: int = 0, size=(48, 64)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
