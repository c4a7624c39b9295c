"""The report's figures (PNG under <out>/figures/): training curves, per-class accuracy, and per model a
confusion matrix and a grid of test predictions. Drawing is in shared.plots; this file only picks the data."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from shared import metrics, plots
from shared.compare.table import row_label


def run_figures(rows: list[dict], out_dir: Path) -> dict[str, str]:
    """Figures over all measured rows; returns {name: path relative to out_dir}."""
    measured = [row for row in rows if row["status"] == "ok"]
    if not measured:
        return {}
    class_names = list(measured[0]["per_class_accuracy"])
    figures = {"curves": "figures/training_curves.png", "per_class": "figures/per_class_accuracy.png"}
    plots.plot_history({row_label(row): row["history"] for row in measured}, path=out_dir / figures["curves"])
    plots.plot_per_class_accuracy({row_label(row): np.array(list(row["per_class_accuracy"].values()), dtype=float)
                                   for row in measured}, class_names, path=out_dir / figures["per_class"])
    return figures


def row_figures(row: dict, predictions: np.ndarray, dataset, out_dir: Path, grid: int) -> dict[str, str]:
    """Confusion matrix and prediction grid of one row; mistakes first in the grid, so they can be seen."""
    names = {"confusion": f"figures/confusion_{row['id']}.png", "predictions": f"figures/predictions_{row['id']}.png"}
    labels = dataset.test.labels
    matrix = metrics.confusion(predictions, labels, dataset.num_classes)
    plots.plot_confusion_matrix(matrix, dataset.class_names, title=f"{row_label(row)}: confusion matrix (test)",
                                path=out_dir / names["confusion"])
    wrong, right = np.flatnonzero(predictions != labels), np.flatnonzero(predictions == labels)
    shown = np.concatenate([wrong[: grid // 2], right])[:grid]  # up to half mistakes, the rest correct
    plots.plot_predictions(dataset.test.images[shown], labels[shown], predictions[shown], dataset.class_names,
                           title=f"{row_label(row)}: test predictions (true → predicted, mistakes in red)",
                           path=out_dir / names["predictions"])
    return names
