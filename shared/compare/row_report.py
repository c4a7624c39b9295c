"""A row's own material, made right after it is trained, from its first seed's model (the one saved):

    row.update(row_material(row, spec, first, dataset, out_dir))

- "interpretation": its top losses (the TOP_LOSSES test images with the highest loss, drawn with their Grad-CAM
  in figures/top_losses_<row id>.png), its most confused class pairs, and one sentence to act on
  (shared/compare/interpretation.py);
- "architecture": its layer table and diagram (shared/compare/layers.py);
- "tensorboard": the folders of its TensorBoard scalars, one per training seed (`tensorboard_folders`).

Grad-CAM needs a convolutional layer named by the model's registry entry; a row without one (the LSTM), or whose
model Grad-CAM cannot explain (a learner's model), shows its top losses without heatmaps and says why. Nothing
here can fail a row that trained.
"""
from __future__ import annotations

import shutil
import traceback
from pathlib import Path

import numpy as np

from shared import metrics
from shared.compare import interpretation, layers
from shared.compare.figures import plot_top_losses
from shared.compare.table import row_label
from shared.tensorboard_logs import write_history

TENSORBOARD = "tensorboard"


def tensorboard_folders(row: dict, out_dir: Path) -> list[str]:
    """Write each training seed's history as TensorBoard scalars: `tensorboard/<row id>` for one seed,
    `tensorboard/<row id>/seed<k>` for several. A row trained again replaces its folder (no doubled points)."""
    base = out_dir / TENSORBOARD / row["id"]
    shutil.rmtree(base, ignore_errors=True)
    runs = row["per_seed"]
    folders = [base] if len(runs) == 1 else [base / f"seed{run['seed']}" for run in runs]
    for folder, run in zip(folders, runs):
        write_history(folder, run["history"])
    return [folder.relative_to(out_dir).as_posix() for folder in folders]


def _no_convolution(model, framework: str) -> bool:
    layers_ = model.modules() if framework == "torch" else getattr(model, "layers", [])
    return not any("conv" in type(layer).__name__.lower() for layer in layers_)


def heatmaps(spec, model, pixels: np.ndarray, classes: list[int]) -> tuple[list[np.ndarray] | None, dict]:
    """Grad-CAM of the prepared images for the given classes: (heatmaps or None, the row's "gradcam" field)."""
    from shared.interpret.explain import layer_name
    from shared.interpret.gradcam import GRADCAM_KEY, GradCamUnavailable, gradcams, layer_for

    if spec.entry.info.get(GRADCAM_KEY) is None and _no_convolution(model, spec.framework):
        return None, {"unavailable": "no heatmaps: Grad-CAM weighs a convolutional layer's maps by their gradients, "
                                     "and this model has no convolutional layer"}
    try:
        layer = layer_for(spec.entry, model)
        cams = gradcams(model, pixels, layer, spec.framework, classes)
    except GradCamUnavailable as error:   # a sentence already
        return None, {"unavailable": f"no heatmaps: {error}"}
    except Exception as error:  # noqa: BLE001 — a learner's model may fail anywhere; the row stays measured
        if spec.impl == "reference":
            traceback.print_exc()
        return None, {"unavailable": f"no heatmaps: Grad-CAM failed ({type(error).__name__}: {error})"}
    return [cam.heatmap for cam in cams], {"layer": layer_name(model, layer, spec.framework)}


def _panels(images: np.ndarray, maps) -> list[np.ndarray]:
    from shared.interpret.overlay import overlay

    if maps is None:
        return [image for image in images]
    return [overlay(image, heatmap) for image, heatmap in zip(images, maps)]


def interpret(row: dict, spec, first, dataset, out_dir: Path) -> tuple[dict, str]:
    """The row's "interpretation" field, and the top-loss figure's path (relative to out_dir)."""
    from shared.compare.measure import backend_for

    labels, names = dataset.test.labels, list(dataset.class_names)
    predictions = metrics.as_predictions(first.logits)
    matrix = metrics.confusion(predictions, labels, dataset.num_classes)
    pairs, sink = interpretation.confused_pairs(matrix, names), interpretation.wrong_answer(matrix, names)
    top = interpretation.top_losses(first.logits, labels, names)
    indices = [item["index"] for item in top]
    pixels = backend_for(spec.framework).test_pixels(first.data["test"], indices)
    maps, gradcam = heatmaps(spec, first.model, pixels, [names.index(item["predicted"]) for item in top])
    figure = f"figures/top_losses_{row['id']}.png"
    title = f"{row_label(row)}: the {len(top)} test images with the highest loss (true → predicted, its probability)"
    title += "; heat: Grad-CAM of the predicted class" if maps is not None else ""
    plot_top_losses(_panels(dataset.test.images[indices], maps), top, title,
                    note="" if maps is not None else gradcam["unavailable"], path=out_dir / figure)
    mistakes = int((predictions != labels).sum())
    return {"top_losses": top, "gradcam": gradcam, "confused_pairs": pairs, "wrong_answer": sink,
            "mistakes": mistakes, "tested": len(labels),
            "action": interpretation.action(row, pairs, mistakes, len(labels), sink)}, figure


def row_material(row: dict, spec, first, dataset, out_dir: Path) -> dict:
    """What to add to a finished row: interpretation, architecture, TensorBoard folders, and their figures."""
    figures = dict(row["figures"])
    try:
        found, figures["top_losses"] = interpret(row, spec, first, dataset, out_dir)
    except Exception as error:  # noqa: BLE001 — NaN logits, a learner's loader: the row stays measured
        if spec.impl == "reference":
            traceback.print_exc()
        found = {"unavailable": f"no interpretation: {type(error).__name__}: {error}"}
    try:
        architecture, figures["architecture"] = layers.describe(first.model, spec.framework, row["input"]["shape"],
                                                                row["id"], out_dir)
    except Exception as error:  # noqa: BLE001 — a learner's model may not trace; the row stays measured
        if spec.impl == "reference":
            traceback.print_exc()
        architecture = {"unavailable": f"no layer table: {type(error).__name__}: {error}"}
    return {"interpretation": found, "architecture": architecture, "tensorboard": tensorboard_folders(row, out_dir),
            "figures": figures}
