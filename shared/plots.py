"""Figures shared by the exercises and the report. Each function draws one figure and saves it as PNG when
`path` is given; it returns the matplotlib Figure (closed after saving, so loops do not leak memory)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt  # no backend chosen here: notebooks keep theirs, headless runs get Agg
import numpy as np

from shared.atomic import atomic_write

MISTAKE_COLOR = "crimson"
CORRECT_COLOR = "darkgreen"


def save_figure(figure, path, dpi: int = 100) -> Path:
    """Save `figure` as a PNG at `path`, atomically (a killed run never leaves half an image)."""
    return atomic_write(path, lambda temporary: figure.savefig(temporary, dpi=dpi, format="png"))


def _finish(figure, path) -> plt.Figure:
    figure.tight_layout()
    if path is not None:
        save_figure(figure, path)
        plt.close(figure)
    return figure


def plot_history(histories: dict[str, dict], path=None) -> plt.Figure:
    """Loss and accuracy per epoch for one or more runs: train solid, validation dashed, one colour per run."""
    figure, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(13, 4))
    for index, (label, history) in enumerate(histories.items()):
        color = f"C{index % 10}"
        epochs = np.arange(1, len(history["train_loss"]) + 1)
        for axis, metric in ((loss_axis, "loss"), (acc_axis, "acc")):
            axis.plot(epochs, history[f"train_{metric}"], color=color, marker="o", label=f"{label} train")
            axis.plot(epochs, history[f"val_{metric}"], color=color, marker="s", linestyle="--", label=f"{label} val")
    for axis, title in ((loss_axis, "loss"), (acc_axis, "accuracy")):
        axis.set(title=f"{title} (solid: train, dashed: validation)", xlabel="epoch", ylabel=title)
        axis.grid(alpha=0.3)
        axis.xaxis.get_major_locator().set_params(integer=True)  # epochs are whole numbers
    acc_axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))  # outside: never hides a curve
    return _finish(figure, path)


def plot_confusion_matrix(matrix: np.ndarray, class_names: list[str], title: str = "", path=None) -> plt.Figure:
    """Confusion matrix (row = true class, column = predicted), each row normalised so colour = recall."""
    matrix = np.asarray(matrix)
    rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.5 * len(class_names) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    axis.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    ticks = np.arange(len(class_names))
    axis.set_xticks(ticks, class_names, rotation=45, ha="right")
    axis.set_yticks(ticks, class_names)
    for (row, col), count in np.ndenumerate(matrix):
        axis.text(col, row, str(count), ha="center", va="center", fontsize=8,
                  color="white" if rows[row, col] > 0.5 else "black")
    axis.set(title=title or "confusion matrix", xlabel="predicted", ylabel="true")
    return _finish(figure, path)


def plot_predictions(images: np.ndarray, labels, predictions, class_names: list[str], title: str = "",
                     columns: int = 8, path=None) -> plt.Figure:
    """A grid of images (N, H, W, C) uint8 titled `true → predicted`; mistakes in red with a red frame."""
    count = len(images)
    rows = max(1, int(np.ceil(count / columns)))
    figure, axes = plt.subplots(rows, columns, figsize=(1.5 * columns, 1.75 * rows + 0.4), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index >= count:
            continue
        image = images[index]
        axis.imshow(image.squeeze(-1) if image.shape[-1] == 1 else image, cmap="gray")
        wrong = int(labels[index]) != int(predictions[index])
        color = MISTAKE_COLOR if wrong else CORRECT_COLOR
        axis.set_title(f"{class_names[labels[index]]}\n→ {class_names[predictions[index]]}", fontsize=9, color=color)
        if wrong:
            axis.add_patch(plt.Rectangle((0, 0), 1, 1, transform=axis.transAxes, fill=False, lw=3, color=color))
    figure.suptitle(title or "test predictions (true → predicted; mistakes in red)", fontsize=11)
    return _finish(figure, path)


def plot_per_class_accuracy(accuracies: dict[str, np.ndarray], class_names: list[str], path=None) -> plt.Figure:
    """Grouped bars: accuracy on each class, one bar colour per run."""
    runs = list(accuracies)
    width = 0.8 / max(len(runs), 1)
    positions = np.arange(len(class_names))
    figure, axis = plt.subplots(figsize=(max(6.0, 0.6 * len(class_names) * max(len(runs), 2) / 2 + 3), 4))
    for index, run in enumerate(runs):
        axis.bar(positions + index * width - 0.4 + width / 2, np.nan_to_num(accuracies[run]), width, label=run)
    axis.set_xticks(positions, class_names, rotation=30, ha="right")
    axis.set(ylim=(0, 1.05), ylabel="accuracy", title="per-class test accuracy")
    axis.legend(fontsize=7)
    axis.grid(axis="y", alpha=0.3)
    return _finish(figure, path)
