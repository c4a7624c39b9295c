"""What each difference between PyTorch and Keras defaults costs the week-2 CNN twins, one difference at a time.

The reference twins agree on everything (solutions/week2/keras_cnn.py). Each variant puts back one Keras
default in the Keras twin (or, for the PyTorch side, one evaluation mistake) and trains through compare's own
row runner on the default data (shapes, 8,000 training images, the week-2 recipe), for each seed. Every run is
a fresh process, so no variant leaks into the next. The accuracy cost is read against the seed spread.

    .venv/bin/python bench/twins_ablation.py --seeds 0 1 2              # ~15 CPU-minutes per variant and seed set
    .venv/bin/python bench/twins_ablation.py --variants keras_init --seeds 0
Writes bench/results/twins_ablation.md and .jsonl (one line per run, appended).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"

VARIANTS = {
    "matched": "the reference twins: every default matched",
    "keras_init": "Keras' initialisers (glorot_uniform kernels, zero biases) instead of PyTorch's",
    "keras_batchnorm": "Keras' BatchNormalization defaults (momentum 0.99, epsilon 1e-3)",
    "keras_adam_epsilon": "Keras' Adam epsilon (1e-7, added to sqrt(v) before bias correction)",
    "constant_lr": "the old recipe: Adam at a constant 1e-3 in both frameworks (no warm-up, no decay)",
}


def apply(variant: str) -> None:
    """Put one default back, by patching the Keras twin's module (or the recipe) in this process."""
    import keras

    from solutions.week2 import keras_cnn, recipe, training

    if variant == "keras_init":
        keras_cnn.torch_like_init = lambda fan_in: keras.initializers.GlorotUniform()
        keras_cnn.torch_like_dense = lambda units, fan_in, **options: keras.layers.Dense(units, **options)
    elif variant == "keras_batchnorm":
        keras_cnn.BN_MOMENTUM, keras_cnn.BN_EPSILON = 0.99, 1e-3
    elif variant == "keras_adam_epsilon":
        original = keras_cnn.keras_optimizer
        keras_cnn.keras_optimizer = lambda lr, steps, r=recipe.RECIPE: original(
            lr, steps, dataclasses.replace(r, adam_epsilon=1e-7))
    elif variant == "constant_lr":
        keras_cnn.keras_optimizer = lambda lr, steps, r=recipe.RECIPE: keras.optimizers.Adam(1e-3)
        training.make_optimizer = lambda model, lr, steps, r=recipe.RECIPE: __import__("torch").optim.Adam(
            model.parameters(), lr=1e-3)


def one_run(variant: str, framework: str, seed: int, size: int) -> dict:
    """Train the registered CNN of `framework` with `variant` applied; its test accuracy and, for PyTorch, what
    evaluating it wrongly would have reported (train mode; accuracy averaged over batches)."""
    import numpy as np

    from shared import metrics, registry
    from shared.compare.config import CompareConfig
    from shared.compare.measure import train_seed
    from shared.compare.plan import RowSpec
    from shared.compare.recipe import recipe_for
    from shared.data import input_spec, load_dataset

    apply(variant)
    config = CompareConfig(size=size, progress=False, seeds=(seed,))
    dataset = load_dataset("shapes", size=size, seed=config.data_seed)
    spec = RowSpec("cnn", framework, "reference", registry.get_entry("cnn", framework))
    recipe = recipe_for(spec.entry.info, config)
    inputs = input_spec(dataset.image_shape, dataset.mean, dataset.std, recipe.preprocessing)
    cpu = time.process_time()
    run = train_seed(spec, dataset, config, recipe, inputs, seed)
    result = {"variant": variant, "framework": framework, "seed": seed, "size": size,
              "test_accuracy": metrics.accuracy(run.logits, run.labels), "best_epoch": run.history["best_epoch"],
              "val_acc": run.history["val_acc"], "cpu_s": time.process_time() - cpu, "load": os.getloadavg()[0]}
    if framework == "torch":
        result.update(_evaluation_mistakes(run.model, run.data["test"], dataset))
    return result


def _evaluation_mistakes(model, loader, dataset) -> dict:
    """Test accuracy with the model left in train mode (dropout on, BatchNorm on batch statistics), and the
    right accuracy averaged over batches instead of images."""
    import torch

    model.train()
    correct, per_batch = 0, []
    with torch.no_grad():
        for images, labels in loader:
            hits = (model(images).argmax(1) == labels).float()
            correct += hits.sum().item()
            per_batch.append(hits.mean().item())
    model.eval()
    with torch.no_grad():
        batch_means = [(model(images).argmax(1) == labels).float().mean().item() for images, labels in loader]
    return {"train_mode_accuracy": correct / len(dataset.test.labels),
            "batch_averaged_accuracy": float(sum(batch_means) / len(batch_means))}


def table(records: list[dict]) -> str:
    import numpy as np

    lines = ["| variant | framework | images | seeds | test accuracy (mean ± std) | vs matched, same framework |",
             "|---|---|---:|---|---:|---:|"]
    by = {}
    for record in records:
        by.setdefault((record["variant"], record["framework"], record["size"]), []).append(record)
    order = lambda item: (item[0][2], list(VARIANTS).index(item[0][0]), item[0][1])  # noqa: E731
    for (variant, framework, size), runs in sorted(by.items(), key=order):
        values = np.array([r["test_accuracy"] for r in runs])
        base = by.get(("matched", framework, size))
        delta = "" if variant == "matched" or not base else \
            f"{100 * (values.mean() - np.mean([r['test_accuracy'] for r in base])):+.1f} points"
        std = f" ± {100 * values.std(ddof=1):.1f}" if len(values) > 1 else ""
        lines.append(f"| {VARIANTS[variant]} | {framework} | {size:,} | {', '.join(str(r['seed']) for r in runs)} | "
                     f"{100 * values.mean():.1f}{std} | {delta} |")
    mistakes = [r for r in records if "train_mode_accuracy" in r and r["variant"] == "matched"]
    for r in mistakes:
        lines.append(f"| evaluated in train mode (no model.eval()) | torch | {r['size']:,} | {r['seed']} | "
                     f"{100 * r['train_mode_accuracy']:.1f} | {100 * (r['train_mode_accuracy'] - r['test_accuracy']):+.1f} points |")
        lines.append(f"| accuracy averaged over batches, not images | torch | {r['size']:,} | {r['seed']} | "
                     f"{100 * r['batch_averaged_accuracy']:.2f} | {100 * (r['batch_averaged_accuracy'] - r['test_accuracy']):+.2f} points |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--frameworks", nargs="+", default=["torch", "keras"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--size", type=int, default=10000)
    parser.add_argument("--table", action="store_true", help="only rewrite the table from the runs logged so far")
    parser.add_argument("--one", nargs=3, metavar=("VARIANT", "FRAMEWORK", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one_run(args.one[0], args.one[1], int(args.one[2]), args.size)))
        return
    RESULTS.mkdir(exist_ok=True)
    log = RESULTS / "twins_ablation.jsonl"
    if args.table:
        write_table(log)
        return
    for variant in args.variants:
        frameworks = args.frameworks if variant in ("matched", "constant_lr") else ["keras"]
        for framework in frameworks:
            for seed in args.seeds:
                done = subprocess.run([sys.executable, __file__, "--one", variant, framework, str(seed),
                                       "--size", str(args.size)], capture_output=True, text=True, check=True)
                record = json.loads(done.stdout.strip().splitlines()[-1])
                with log.open("a") as handle:
                    handle.write(json.dumps(record) + "\n")
                print(f"{variant} {framework} seed {seed}: {100 * record['test_accuracy']:.1f}% "
                      f"({record['cpu_s']:.0f} CPU-s, load {record['load']:.1f})", flush=True)
    write_table(log)


DONE = {  # what the workbook does about each difference (solutions/week2/keras_cnn.py, recipe.py)
    "keras_init": "the Keras twin uses PyTorch's initialisers (`torch_like_init`, `torch_like_dense`)",
    "keras_batchnorm": "the Keras twin uses momentum 0.9 (Keras: 1 - PyTorch's 0.1) and epsilon 1e-5",
    "keras_adam_epsilon": "the Keras twin uses epsilon 1e-8; `workbook parity` shows the per-step difference",
    "constant_lr": "both twins use week 2's recipe: warm-up + cosine per batch (solutions/week2/recipe.py)",
}


def write_table(log: Path) -> str:
    """bench/results/twins_ablation.md from every run logged so far, with how it was measured."""
    records = [json.loads(line) for line in log.read_text().splitlines()]
    loads = [r["load"] for r in records]
    text = "\n".join([
        "# What each PyTorch/Keras default costs the week-2 CNN twins", "",
        f"`python bench/twins_ablation.py --seeds 0 1 2` ({len(records)} runs, one fresh process each; load average "
        f"{min(loads):.1f}-{max(loads):.1f}). Data: `shapes`, 10,000 images (8,000 train / 1,000 val / 1,000 "
        "test), the week-2 recipe. A difference counts only when it exceeds the seed spread (± one std).", "",
        table(records), "", "What the workbook does about each:", "",
        *[f"- {VARIANTS[name]}: {what}." for name, what in DONE.items()], ""])
    (RESULTS / "twins_ablation.md").write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
