"""`workbook compare` end to end: plan the rows, load the data once, run each row, write results and reports."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

from shared.compare import resume
from shared.compare.config import LSTM_NOTE, CompareConfig
from shared.compare.efficiency import data_efficiency
from shared.compare.environment import environment
from shared.compare.figures import row_figures, run_figures
from shared.compare.measure import run_row
from shared.compare.plan import plan_rows
from shared.compare.recipe import statement, statement_text
from shared.compare.report import write_reports
from shared.compare.row_report import row_material
from shared.compare.results import SCHEMA_VERSION, write_results
from shared.compare.spread import spread_for
from shared.compare.verdict import difference_sentences, verdict
from shared.data import check_name
from shared.web.samples import write_samples


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def default_out_dir() -> Path:
    return Path("reports") / datetime.now().strftime("%Y%m%d-%H%M%S")


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
        spread = f" ± {100 * row['test_accuracy_std']:.1f}" if row.get("test_accuracy_std") is not None else ""
        print(f"{prefix}: test accuracy {100 * row['test_accuracy']:.1f}%{spread}, macro-F1 {row['macro_f1']:.3f} "
              f"({seconds:.0f} s)", flush=True)
    else:
        print(f"{prefix}: {outcome.row['status']}: {outcome.row['reason']}", flush=True)


def run_one(index: int, specs, dataset, config: CompareConfig, out_dir: Path) -> dict:
    """Row `index` (1-based) of `specs`: trained, measured and drawn; its results.json row. A row finished before
    an interruption is read back instead (shared/compare/resume.py)."""
    spec = specs[index - 1]
    kept = resume.kept_row(spec, dataset, out_dir)
    if kept is not None:
        return kept
    start = time.perf_counter()
    if not spec.skip_reason:
        _announce(index, len(specs), spec)
    outcome = run_row(spec, dataset, config, out_dir)
    if outcome.row["status"] == "ok":
        print(f"    {spec.name} · {spec.framework}: figures, top losses with Grad-CAM, layer table…", flush=True)
        outcome.row["figures"] = row_figures(outcome.row, outcome.predictions, dataset, out_dir, config.prediction_grid)
        outcome.row.update(row_material(outcome.row, spec, outcome.first, dataset, out_dir))
        outcome.first = None                   # the model and its loaders are no longer needed
        resume.save_row(outcome.row, out_dir)  # last: the row is finished
    _announce(index, len(specs), spec, outcome, time.perf_counter() - start)
    return outcome.row


def _notes(config: CompareConfig, notes: list[str]) -> list[str]:
    if "lstm" not in config.models and config.dataset == "shapes":
        notes = [*notes, LSTM_NOTE]
    return notes


def assemble(config: CompareConfig, dataset, rows: list[dict], notes: list[str], figures: dict,
             efficiency: dict | None) -> dict:
    """results.json's content: the rows with their spread, the recipe statement and the verdict."""
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    results = {"schema_version": SCHEMA_VERSION, "created": created, "config": config.as_dict(),
               "dataset": _dataset_summary(dataset), "environment": environment(config.seed),
               "notes": _notes(config, notes), "rows": rows, "figures": figures}
    for row in rows:
        if row["status"] == "ok":
            row["spread"] = spread_for(results, row)
    results["recipes"] = statement(rows, results["dataset"], config)
    results["fairness"] = statement_text(results["recipes"])
    measured = [row for row in rows if row["status"] == "ok"]
    results["verdict"] = verdict(rows, efficiency)
    results["differences"] = difference_sentences(measured)
    if efficiency:
        results["data_efficiency"] = efficiency
    return results


def run_compare(config: CompareConfig) -> tuple[dict, Path]:
    """Run the comparison described by `config`; return (results, output directory)."""
    import torch

    from shared.data import load_dataset

    torch.set_num_threads(config.threads)
    check_name(config.dataset)
    specs, notes = plan_rows(config)  # validates --models before any data is loaded
    dataset = load_dataset(config.dataset, size=config.size, image_size=config.image_size, seed=config.data_seed)
    out_dir = Path(config.out) if config.out else default_out_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    resume.prepare(out_dir, config)  # refuses another run's directory; continues an interrupted one
    write_samples(out_dir, dataset)  # a few test images for the demo page (workbook serve --run)
    print(f"{dataset.name}: {len(dataset.train.labels)} train / {len(dataset.val.labels)} val / "
          f"{len(dataset.test.labels)} test images, {_plural(len(specs), 'row')} × "
          f"{_plural(len(config.seeds), 'seed')} -> {out_dir}", flush=True)
    rows = []
    for index in range(1, len(specs) + 1):   # one row after another; each is complete once appended
        rows.append(run_one(index, specs, dataset, config, out_dir))
    figures = run_figures(rows, out_dir)
    efficiency = data_efficiency(rows, dataset, config, out_dir, figures)
    results = write_results(assemble(config, dataset, rows, notes, figures, efficiency), out_dir / "results.json")
    write_reports(results, out_dir)
    return results, out_dir
