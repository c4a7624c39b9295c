"""`workbook compare` end to end: plan the rows, load the data once, run each row, write results and reports."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

from shared import reference
from shared.compare import resume
from shared.compare.config import CompareConfig
from shared.compare.environment import environment
from shared.compare.figures import row_figures, run_figures
from shared.compare.measure import run_row
from shared.compare.plan import plan_rows
from shared.compare.report import write_reports
from shared.compare.results import SCHEMA_VERSION, write_results
from shared.data import check_name


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def default_out_dir() -> Path:
    return Path("reports") / datetime.now().strftime("%Y%m%d-%H%M%S")


def fairness_statement(config: CompareConfig, dataset, rows: list[dict]) -> str:
    overrides = [f"{row['id']}: {', '.join(row['recipe']['overrides'])}" for row in rows
                 if row["status"] == "ok" and row["recipe"]["overrides"]]
    sizes = f"{len(dataset.train.labels)} train / {len(dataset.val.labels)} validation / {len(dataset.test.labels)} test"
    return (f"Every row uses the same split ({sizes} images, seed {config.seed}), the same preprocessing (pixels "
            f"scaled to [0, 1], then normalised with the per-channel mean and std of the training split), no "
            f"augmentation, {_plural(config.epochs, 'epoch')}, weights initialised and batches shuffled with seed "
            f"{config.seed}, Adam at learning rate {config.learning_rate:g} with batch size {config.batch_size}, and is "
            f"evaluated on the test split with the weights of its best validation epoch. "
            + (f"Rows whose recipe differs: {'; '.join(overrides)}." if overrides else "No row overrides any of this."))


def _dataset_summary(dataset) -> dict:
    return {"name": dataset.name, "class_names": list(dataset.class_names), "num_classes": dataset.num_classes,
            "image_shape": list(dataset.image_shape), "num_train": len(dataset.train.labels),
            "num_val": len(dataset.val.labels), "num_test": len(dataset.test.labels),
            "mean": [float(v) for v in dataset.mean], "std": [float(v) for v in dataset.std]}


def _announce(index: int, total: int, spec, outcome=None, seconds: float = 0.0) -> None:
    prefix = f"[{index}/{total}] {spec.name} · {spec.framework} · {spec.impl}"
    if outcome is None:
        print(f"{prefix}: training…", flush=True)
    elif outcome.row["status"] == "ok":
        row = outcome.row
        print(f"{prefix}: test accuracy {100 * row['test_accuracy']:.1f}%, macro-F1 {row['macro_f1']:.3f} "
              f"({seconds:.0f} s)", flush=True)
    else:
        print(f"{prefix}: {outcome.row['status']}: {outcome.row['reason']}", flush=True)


def _run_rows(specs, dataset, config: CompareConfig, out_dir: Path) -> list[dict]:
    rows = []
    for index, spec in enumerate(specs, start=1):
        kept = resume.kept_row(spec, dataset, out_dir)  # finished before an interruption: not trained again
        if kept is not None:
            rows.append(kept)
            continue
        start = time.perf_counter()
        if not spec.skip_reason:
            _announce(index, len(specs), spec)
        outcome = run_row(spec, dataset, config, out_dir)
        if outcome.row["status"] == "ok":
            outcome.row["figures"] = row_figures(outcome.row, outcome.predictions, dataset, out_dir,
                                                 config.prediction_grid)
            resume.save_row(outcome.row, out_dir)  # last: the row is finished
        _announce(index, len(specs), spec, outcome, time.perf_counter() - start)
        rows.append(outcome.row)
    return rows


def _data_efficiency(dataset, config: CompareConfig, out_dir: Path, figures: dict) -> dict | None:
    """Week 4's experiment: accuracy against training images per class, CNN from scratch vs transfer."""
    if not config.data_efficiency:
        return None
    print(f"data efficiency: CNN from scratch vs transfer at {list(config.data_efficiency)} images per class "
          f"(0: all)…", flush=True)
    import numpy as np

    smallest = int(np.bincount(dataset.train.labels, minlength=dataset.num_classes).min())
    too_big = [count for count in config.data_efficiency if count > smallest]
    if too_big:  # a small dataset: "all" already covers these
        print(f"data efficiency: skipping {too_big} per class (the smallest class has {smallest})", flush=True)
    counts = [count or None for count in config.data_efficiency if count <= smallest]
    experiment = reference.data_efficiency(dataset, counts, cnn_epochs=config.epochs, seed=config.seed)
    figures["data_efficiency"] = "figures/data_efficiency.png"
    import matplotlib.pyplot as plt

    plt.close(reference.plot_data_efficiency(experiment, out_dir / figures["data_efficiency"]))
    return experiment


def run_compare(config: CompareConfig) -> tuple[dict, Path]:
    """Run the comparison described by `config`; return (results, output directory)."""
    import torch

    from shared.data import load_dataset

    torch.set_num_threads(config.threads)
    check_name(config.dataset)
    specs, notes = plan_rows(config)  # validates --models before any data is loaded
    dataset = load_dataset(config.dataset, size=config.size, image_size=config.image_size, seed=config.seed)
    out_dir = Path(config.out) if config.out else default_out_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    resume.prepare(out_dir, config)  # refuses another run's directory; continues an interrupted one
    print(f"{dataset.name}: {len(dataset.train.labels)} train / {len(dataset.val.labels)} val / "
          f"{len(dataset.test.labels)} test images, {_plural(config.epochs, 'epoch')}, "
          f"{_plural(len(specs), 'row')} -> {out_dir}", flush=True)
    rows = _run_rows(specs, dataset, config, out_dir)
    figures = run_figures(rows, out_dir)
    efficiency = _data_efficiency(dataset, config, out_dir, figures)
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    results = {"schema_version": SCHEMA_VERSION, "created": created, "config": config.as_dict(),
               "dataset": _dataset_summary(dataset), "environment": environment(config.seed),
               "fairness": fairness_statement(config, dataset, rows), "notes": notes, "rows": rows,
               "figures": figures}
    if efficiency:
        results["data_efficiency"] = efficiency
    results = write_results(results, out_dir / "results.json")
    write_reports(results, out_dir)
    return results, out_dir
