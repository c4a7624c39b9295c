"""The report's figures (PNG under <out>/figures/): training curves, per-class accuracy, and per model a
confusion matrix and a grid of test predictions. Generic drawing is in shared.plots; this file picks the data and
draws the one figure that is the comparison's own, the per-class table of colours."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from shared import metrics, plots
from shared.compare.table import row_label


def plot_per_class(accuracies: dict[str, list[float | None]], class_names: list[str], path=None):
    """One line per row, one column per class, each cell coloured by its accuracy and labelled with it in %:
    readable at any number of rows, where grouped bars become slivers."""
    import matplotlib.pyplot as plt

    labels = list(accuracies)
    values = np.array([[np.nan if v is None else v for v in accuracies[label]] for label in labels], dtype=float)
    figure, axis = plt.subplots(figsize=(max(7.0, 0.85 * len(class_names) + 2.5), 0.5 * len(labels) + 1.6))
    image = axis.imshow(values, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    for (i, j), value in np.ndenumerate(values):
        text = "–" if np.isnan(value) else f"{100 * value:.0f}"
        axis.text(j, i, text, ha="center", va="center", fontsize=10, color="black")
    axis.set_xticks(range(len(class_names)), class_names, rotation=30, ha="right", fontsize=10)
    axis.set_yticks(range(len(labels)), labels, fontsize=10)
    axis.set_title("test accuracy per class (%)", fontsize=11)
    figure.colorbar(image, ax=axis, fraction=0.025, pad=0.02)
    figure.tight_layout()
    if path is not None:
        plots.save_figure(figure, path)
        plt.close(figure)
    return figure


def run_figures(rows: list[dict], out_dir: Path) -> dict[str, str]:
    """Figures over all measured rows; returns {name: path relative to out_dir}."""
    measured = [row for row in rows if row["status"] == "ok"]
    if not measured:
        return {}
    class_names = list(measured[0]["per_class_accuracy"])
    figures = {"curves": "figures/training_curves.png", "per_class": "figures/per_class_accuracy.png"}
    plots.plot_history({row_label(row): row["history"] for row in measured}, path=out_dir / figures["curves"])
    plot_per_class({row_label(row): list(row["per_class_accuracy"].values()) for row in measured}, class_names,
                   path=out_dir / figures["per_class"])
    return figures


def row_figures(row: dict, predictions: np.ndarray, dataset, out_dir: Path, grid: int) -> dict[str, str]:
    """Confusion matrix and prediction grid of one row; mistakes first in the grid, so they can be seen."""
    names = {"confusion": f"figures/confusion_{row['id']}.png", "predictions": f"figures/predictions_{row['id']}.png"}
    labels = dataset.test.labels
    matrix = metrics.confusion(predictions, labels, dataset.num_classes)
    seed = f", seed {row['seeds'][0]}" if len(row.get("seeds", [])) > 1 else ""
    plots.plot_confusion_matrix(matrix, dataset.class_names, title=f"{row_label(row)}: confusion matrix (test{seed})",
                                path=out_dir / names["confusion"])
    wrong, right = np.flatnonzero(predictions != labels), np.flatnonzero(predictions == labels)
    shown = np.concatenate([wrong[: grid // 2], right])[:grid]  # up to half mistakes, the rest correct
    plots.plot_predictions(dataset.test.images[shown], labels[shown], predictions[shown], dataset.class_names,
                           title=f"{row_label(row)}: test predictions (true → predicted, mistakes in red)",
                           path=out_dir / names["predictions"])
    return names


def plot_top_losses(panels: list[np.ndarray], top: list[dict], title: str, note: str = "", path=None):
    """The top losses side by side: each panel (uint8 (H, W, 3): the image, with its Grad-CAM overlay when there is
    one) titled `true → predicted probability` and its loss; mistakes in red, right answers in green."""
    import matplotlib.pyplot as plt

    count = max(len(panels), 1)
    height = 3.2 + (0.3 if note else 0)
    figure, axes = plt.subplots(1, count, figsize=(2.1 * count, height), squeeze=False)
    for axis, pixels, item in zip(axes.flat, panels, top):
        axis.imshow(pixels.squeeze(-1) if pixels.shape[-1] == 1 else pixels, cmap="gray", interpolation="nearest")
        wrong = item["true"] != item["predicted"]
        axis.set_title(f"{item['true']}\n→ {item['predicted']} {100 * item['probability']:.0f}%\nloss "
                       f"{item['loss']:.2f}", fontsize=9, color=plots.MISTAKE_COLOR if wrong else plots.CORRECT_COLOR)
    for axis in axes.flat:
        axis.axis("off")
    figure.suptitle(title, fontsize=10)
    if note:
        figure.text(0.5, 0.01, note, ha="center", va="bottom", fontsize=8, color="#555555", wrap=True)
    figure.tight_layout(rect=(0, 0.3 / height if note else 0, 1, 1 - 0.3 / height))
    if path is not None:
        plots.save_figure(figure, path)
        plt.close(figure)
    return figure
