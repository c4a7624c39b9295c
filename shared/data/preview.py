"""A PNG grid of labelled samples: what `workbook data preview NAME` writes."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from shared.data.splits import DatasetSplits

PER_CLASS = 8          # columns: samples of each class
MAX_CLASSES = 10       # rows shown at most
CELL_INCHES = 0.9


def preview_grid(dataset: DatasetSplits, out: str | Path, per_class: int = PER_CLASS, seed: int = 0) -> Path:
    """Write a grid with one row per class (its name on the left) and `per_class` training samples each."""
    from matplotlib import pyplot as plt

    from shared.plots import save_figure

    rng = np.random.default_rng(seed)
    classes = list(range(min(dataset.num_classes, MAX_CLASSES)))
    fig, axes = plt.subplots(len(classes), per_class, squeeze=False,
                             figsize=(per_class * CELL_INCHES + 1.2, len(classes) * CELL_INCHES + 0.5))
    split = dataset.train
    for row, cls in enumerate(classes):
        members = np.flatnonzero(split.labels == cls)
        chosen = rng.choice(members, size=min(per_class, len(members)), replace=False) if len(members) else []
        for col in range(per_class):
            ax = axes[row][col]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if col < len(chosen):
                image = split.images[chosen[col]]
                ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=255,
                          interpolation="nearest")
        axes[row][0].set_ylabel(dataset.class_names[cls], rotation=0, ha="right", va="center", fontsize=10)
    h, w, c = dataset.image_shape
    fig.suptitle(f"{dataset.name}: {dataset.num_classes} classes, {h}x{w}x{c}, train={len(dataset.train)} "
                 f"val={len(dataset.val)} test={len(dataset.test)}", fontsize=10)
    fig.tight_layout()
    out = save_figure(fig, out)
    plt.close(fig)
    return out
