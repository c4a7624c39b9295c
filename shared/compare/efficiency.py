"""Week 4's data-efficiency experiment inside the comparison: test accuracy against training images per class,
the custom CNN from scratch against a pretrained backbone.

The CNN points use the `cnn · torch` row's own recipe (the same trainer, epochs and schedule as in the table) on a
class-balanced subset, so the curve ends on the table's number: for "all" the row itself is reused, not trained
again. The transfer points are week 4's: a linear head on frozen Lite0 features (`transfer_accuracy`). Subsets
come from week 4's `sample_per_class`, nested, drawn with the data seed. A progress bar counts the points.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from shared import reference, registry
from shared.compare.config import CompareConfig
from shared.compare.plan import RowSpec
from shared.compare.recipe import recipe_for
from shared.data import input_spec

FIGURE = "figures/data_efficiency.png"


def _cnn_row(rows: list[dict]) -> dict | None:
    return next((row for row in rows if (row["model"], row["framework"], row["impl"], row["status"]) ==
                 ("cnn", "torch", "reference", "ok")), None)


def cnn_accuracy(train, dataset, config: CompareConfig) -> float:
    """Test accuracy of the cnn · torch row's recipe trained on `train` (validated on the full validation split)."""
    from shared.compare.measure import train_seed
    from shared import metrics

    spec = RowSpec("cnn", "torch", "reference", registry.get_entry("cnn", "torch"))
    recipe = recipe_for(spec.entry.info, config)
    subset = dataclasses.replace(dataset, train=train, mean=dataset.mean, std=dataset.std)  # the row's statistics
    inputs = input_spec(dataset.image_shape, dataset.mean, dataset.std, recipe.preprocessing)
    quiet = dataclasses.replace(config, progress=False)
    run = train_seed(spec, subset, quiet, recipe, inputs, config.seed)
    return metrics.accuracy(run.logits, run.labels)


def counts_to_run(dataset, config: CompareConfig) -> tuple[list[int | None], list[int]]:
    """(counts per class to run, None meaning all; counts skipped because a class has fewer images)."""
    smallest = int(np.bincount(dataset.train.labels, minlength=dataset.num_classes).min())
    too_big = [count for count in config.data_efficiency if count > smallest]
    return [count or None for count in config.data_efficiency if count <= smallest], too_big


def data_efficiency(rows: list[dict], dataset, config: CompareConfig, out_dir: Path, figures: dict) -> dict | None:
    """Run the experiment (unless --data-efficiency is empty), draw its figure into `figures`, return its results."""
    from tqdm.auto import tqdm

    if not config.data_efficiency:
        return None
    counts, too_big = counts_to_run(dataset, config)
    if too_big:  # a small dataset: "all" already covers these
        print(f"data efficiency: skipping {too_big} per class (the smallest class has fewer)", flush=True)
    print(f"data efficiency: the CNN from scratch vs transfer at {list(config.data_efficiency)} images per class "
          f"(0: all)…", flush=True)
    results = {"per_class": [], "cnn": [], "transfer": [], "seconds": {"cnn": [], "transfer": []},
               "image_size": reference.transfer_image_size(), "dataset": dataset.name,
               "cnn_recipe": "the cnn · torch row's recipe", "transfer_method": "linear head on frozen Lite0 features"}
    row = _cnn_row(rows)
    bar = tqdm(total=2 * len(counts), desc="data efficiency", unit="point", disable=not config.progress)
    for count in counts:
        train = reference.sample_per_class(dataset.train, count, config.data_seed)
        results["per_class"].append(len(train) // dataset.num_classes if count is None else count)
        for name in ("cnn", "transfer"):
            bar.set_postfix_str(f"{results['per_class'][-1]} per class: {name}")
            start = time.perf_counter()
            if name == "cnn" and count is None and row is not None:
                accuracy = row["per_seed"][0]["test_accuracy"]   # the table's row: same recipe, same data, same seed
            elif name == "cnn":
                accuracy = cnn_accuracy(train, dataset, config)
            else:
                accuracy = reference.transfer_accuracy(train, dataset, config.seed)
            results[name].append(accuracy)
            results["seconds"][name].append(time.perf_counter() - start)
            bar.update(1)
    bar.close()
    figures["data_efficiency"] = FIGURE
    import matplotlib.pyplot as plt

    plt.close(reference.plot_data_efficiency(results, out_dir / FIGURE))
    return results
