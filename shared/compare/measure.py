"""One row of the comparison: build, train, evaluate, time and save one model (either framework), once per seed."""
from __future__ import annotations

import math
import re
import time
import traceback
from dataclasses import dataclass

import numpy as np

from shared import metrics, reference
from shared.checkpoints import Manifest, save_model
from shared.compare.data_parallel import parallel_fields, supports_data_parallel, train_data_parallel
from shared.compare.plan import RowSpec, describe_failure, short_path
from shared.compare.recipe import Recipe, describe_input, recipe_for, row_facts
from shared.data import input_spec
from shared.history import EPOCH_KEYS
from shared.timing import Stopwatch

LATENCY_BATCHES = (1, 64)
HISTORY_KEYS = (*EPOCH_KEYS, "best_epoch")  # AUTHORING.md's history format
REGULARISERS = {"augmentation": "augmentation", "weight_decay": "weight decay", "dropout": "dropout",
                "label_smoothing": "label smoothing"}


@dataclass
class RowOutcome:
    row: dict                          # the row of results.json
    predictions: np.ndarray | None = None  # (N_test,) predicted classes of the first seed, for the figures
    first: "SeedRun | None" = None     # the first seed's model, loaders and logits: interpreted, then let go


def backend_for(framework: str):
    """The module that trains and measures models of `framework`: torch_backend or keras_backend."""
    if framework == "torch":
        from shared.compare import torch_backend

        return torch_backend
    from shared.compare import keras_backend

    return keras_backend


# ---- diagnosis: week 3's, told in the report's terms ------------------------------------------------------------

def _one_based(text: str, offset: int = 1) -> str:
    """Week 3's diagnose counts epochs from 0 (history indices); the report counts them from 1, as the table does.
    `offset` adds the epochs left out of the history that was diagnosed."""
    return re.sub(r"\bepoch (\d+)", lambda match: f"epoch {int(match[1]) + offset}", text)


STARTS_FITTED = 0.9   # a first epoch at this training accuracy (week 4's linear probe) had little loss left to lose
CURVES = ("train_loss", "train_acc", "val_loss", "val_acc")


def fitting_advice(verdict: str, advice: str, facts: dict) -> str:
    """Advice that fits what the row already does: every row keeps its best validation epoch's weights, so early
    stopping is never news; for an overfitting row, name the regularisers its recipe does not use yet."""
    if verdict != "overfitting":
        return advice
    unused = [name for key, name in REGULARISERS.items() if facts.get(key) in (0, 0.0, "none", None, "")]
    used = [name for key, name in REGULARISERS.items() if name not in unused]
    already = "it already keeps its best validation epoch's weights" + (f" and uses {', '.join(used)}" if used else "")
    return f"{already}; try {', '.join(unused) + ', or ' if unused else ''}more training data"


def _starts_fitted(history: dict) -> bool:
    """A first epoch that already fits the training set, followed by more: week 3's "the training loss must fall
    from the first epoch" does not apply to it (the loss had nowhere to fall), the rest of the diagnosis does."""
    values = [float(v) for key in CURVES for v in history[key]]
    return (len(history["train_loss"]) > 1 and all(math.isfinite(v) for v in values)
            and float(history["train_acc"][0]) >= STARTS_FITTED)


def diagnose(history: dict, facts: dict | None = None) -> dict:
    """Week 3's diagnosis of a history, as a dict for results.json, with the train/validation accuracy gap.
    Epochs are counted from 1 and the advice fits the row's recipe (`facts`), when given. When the first epoch
    already fits the training set (a linear probe) and week 3 calls the flat loss after it "not converging", the
    epochs after it are diagnosed instead, and the evidence says so."""
    result, offset, before = reference.diagnose(history), 1, ""
    if result.verdict == "not converging" and _starts_fitted(history):
        result = reference.diagnose({key: list(history[key][1:]) for key in CURVES})
        offset = 2
        before = (f"after a first epoch that already fits the training set ({float(history['train_acc'][0]):.0%} "
                  f"train accuracy, val {float(history['val_acc'][0]):.0%}), ")
    gap = float(history["train_acc"][-1] - history["val_acc"][-1])
    evidence = before + _one_based(result.evidence, offset)
    advice = fitting_advice(result.verdict, result.advice, facts) if facts is not None else result.advice
    best = max(range(len(history["val_acc"])), key=history["val_acc"].__getitem__)
    if before and best == 0:
        advice += ("; its first epoch scored best on validation and is the one kept: the later epochs lowered it, so "
                   "lower their learning rate or give them more data")
    message = f"{result.verdict.capitalize()}: {evidence}. Next: {advice}."
    return {"verdict": result.verdict, "message": message, "evidence": evidence, "advice": advice, "gap": gap}


# ---- one seed ----------------------------------------------------------------------------------------------------

@dataclass
class SeedRun:
    seed: int
    model: object
    data: dict
    history: dict
    seconds: float
    cpu_seconds: float
    logits: np.ndarray
    labels: np.ndarray
    parallel: dict


def _progress_bar(spec: RowSpec, seed: int, config, batches: int, epochs: int):
    from tqdm.auto import tqdm

    return tqdm(total=batches * epochs, desc=f"{spec.name} · {spec.framework} · seed {seed}", unit="batch",
                disable=not config.progress, leave=False)


def train_seed(spec: RowSpec, dataset, config, recipe: Recipe, inputs, seed: int) -> SeedRun:
    """Build, train (the row's trainer, the row's recipe) and predict the test split, with one training seed."""
    backend = backend_for(spec.framework)
    model = backend.build(spec.entry, dataset.num_classes, inputs.shape, seed)
    data = {split: backend.make_data(getattr(dataset, split), train=split == "train", spec=inputs,
                                     batch_size=recipe.batch_size, seed=seed)
            for split in ("train", "val", "test")}
    bar = _progress_bar(spec, seed, config, len(data["train"]), recipe.epochs)
    train = backend.with_progress(data["train"], bar, recipe.epochs)
    parallel = config.nproc > 1 and spec.framework == "torch" and supports_data_parallel(spec.entry)
    cpu = time.process_time()
    with Stopwatch() as watch:
        if parallel:   # --nproc N: N DistributedDataParallel ranks (shared/compare/data_parallel.py)
            state, history, dist_backend = train_data_parallel(spec, dataset, config, recipe, inputs, seed)
            model.load_state_dict(state)
        else:
            history = recipe.trainer(model, train, data["val"], epochs=recipe.epochs,
                                     learning_rate=recipe.learning_rate, seed=seed, device=backend.device(),
                                     progress=backend.trainer_progress(config.progress))
    cpu = time.process_time() - cpu   # with --nproc: this process only (the ranks are other processes)
    bar.close()
    check_history(history, recipe.trainer, recipe.epochs)
    logits, labels = backend.predict(model, data["test"])
    if not np.array_equal(labels, dataset.test.labels):
        raise ValueError("the test loader must keep the dataset's order (train=False: no shuffling, no dropping).")
    world = parallel_fields(config.nproc if parallel else 1, recipe.batch_size, dist_backend if parallel else None)
    return SeedRun(seed, model, data, history, watch.seconds, cpu, logits, labels, world)


def parallel_note(spec: RowSpec, config, world: dict) -> dict:
    """results.json's "parallel" field; with --nproc N, a row trained on one process says why."""
    if config.nproc > 1 and world["world_size"] == 1:
        why = ("Keras rows run on one process here (tf.distribute needs several devices to be real)"
               if spec.framework == "keras" else spec.entry.info.get("single_process") or "its trainer is not "
               "written for DistributedDataParallel (the registry entry has no data_parallel=True)")
        world = {**world, "note": f"trained on one process: {why}"}
    return world


def trainer_name(trainer) -> str:
    """`train_cnn (weeks/week2/cnn.py)`: the trainer's name and the file it comes from."""
    code = getattr(trainer, "__code__", None)
    return getattr(trainer, "__qualname__", "the trainer") + (f" ({short_path(code.co_filename)})" if code else "")


def check_history(history, trainer, epochs: int) -> None:
    """A clear ValueError when a trainer returns something other than the history format of AUTHORING.md."""
    name = trainer_name(trainer)
    if not isinstance(history, dict):
        raise ValueError(f"{name} returned {type(history).__name__}, not the history dict "
                         f"(train_loss, train_acc, val_loss, val_acc, epoch_time_s, best_epoch).")
    missing = [key for key in HISTORY_KEYS if key not in history]
    if missing:
        raise ValueError(f"the history from {name} lacks {', '.join(missing)}.")
    lengths = {key: len(history[key]) for key in HISTORY_KEYS[:-1]}
    if len(set(lengths.values())) != 1 or 0 in lengths.values():
        raise ValueError(f"the history from {name} should hold one value per epoch ({epochs}) in every list, "
                         f"got these lengths: {lengths}.")
    values = [float(v) for key in HISTORY_KEYS[:-1] for v in history[key]]
    if not np.all(np.isfinite(values)):
        bad = [key for key in HISTORY_KEYS[:-1] if not np.all(np.isfinite(np.asarray(history[key], float)))]
        raise ValueError(f"the history from {name} holds NaN or inf in {', '.join(bad)}: the training diverged.")


def _seed_result(run: SeedRun, dataset) -> dict:
    per_class = metrics.per_class_accuracy(run.logits, run.labels, dataset.num_classes)
    epochs_run = len(run.history["train_loss"])
    return {"seed": run.seed, "test_accuracy": metrics.accuracy(run.logits, run.labels),
            "macro_f1": metrics.macro_f1(run.logits, run.labels, dataset.num_classes),
            "per_class_accuracy": dict(zip(dataset.class_names, per_class.tolist())),
            "best_epoch": int(run.history["best_epoch"]) + 1,   # counted from 1, as the report counts epochs
            "train_time_s": run.seconds, "train_cpu_s": run.cpu_seconds,
            "train_images_per_s": len(dataset.train.labels) * epochs_run / run.seconds, "history": run.history}


# ---- the row -----------------------------------------------------------------------------------------------------

def _spread(values: list[float]) -> float | None:
    """Sample standard deviation over seeds (ddof=1); None for a single seed."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else None


def summarise(per_seed: list[dict], class_names) -> dict:
    """Mean (and spread) over seeds of what the table shows; the first seed's history and best epoch."""
    accuracies = [run["test_accuracy"] for run in per_seed]
    f1 = [run["macro_f1"] for run in per_seed]
    times = [run["train_time_s"] for run in per_seed]
    per_class = {}
    for name in class_names:
        values = np.array([run["per_class_accuracy"][name] for run in per_seed], dtype=float)  # NaN: not in the test split
        per_class[name] = float(np.nanmean(values)) if np.isfinite(values).any() else None
    return {"seeds": [run["seed"] for run in per_seed], "test_accuracy": float(np.mean(accuracies)),
            "test_accuracy_mean": float(np.mean(accuracies)), "test_accuracy_std": _spread(accuracies),
            "macro_f1": float(np.mean(f1)), "macro_f1_std": _spread(f1), "per_class_accuracy": per_class,
            "train_time_s": float(np.mean(times)), "train_time_std": _spread(times),
            "train_cpu_s": float(np.mean([run["train_cpu_s"] for run in per_seed])),
            "train_images_per_s": float(np.mean([run["train_images_per_s"] for run in per_seed])),
            "best_epoch": per_seed[0]["best_epoch"], "history": per_seed[0]["history"]}


def _latency(backend, model, input_shape, repeats: int) -> dict:
    values = {f"latency_ms_per_image_batch{size}": backend.latency_ms(model, input_shape, size, repeats)
              for size in LATENCY_BATCHES}
    values["latency_eager_ms_per_image_batch64"] = backend.latency_ms(model, input_shape, 64, repeats, eager=True)
    values["inference_path"], values["eager_path"] = backend.INFERENCE_PATH, backend.EAGER_PATH
    return values


def _save(spec: RowSpec, model, dataset, inputs, out_dir, metrics_: dict) -> dict:
    directory = out_dir / "checkpoints" / spec.row_id
    from shared.ood import training_stats   # what the training images look like: the API's "unlike them" check

    manifest = Manifest(name=spec.name, framework=spec.framework, impl=spec.impl,
                        class_names=list(dataset.class_names), input=inputs, dataset=dataset.name, metrics=metrics_,
                        training_stats=training_stats(dataset.train.images))
    weights = save_model(directory, model, manifest)
    return {"checkpoint": {"file": str(weights.relative_to(out_dir)),
                           "manifest": str((directory / "manifest.json").relative_to(out_dir))},
            "model_size_bytes": weights.stat().st_size}


def measure_row(spec: RowSpec, dataset, config, out_dir) -> RowOutcome:
    recipe = recipe_for(spec.entry.info, config)
    inputs = input_spec(dataset.image_shape, dataset.mean, dataset.std, recipe.preprocessing)  # the one decision
    backend = backend_for(spec.framework)
    per_seed, first = [], None
    for seed in config.seeds:
        run = train_seed(spec, dataset, config, recipe, inputs, seed)
        per_seed.append(_seed_result(run, dataset))
        first = first or run       # the first seed's model is timed, saved and drawn; the others are let go
    facts = row_facts(recipe, describe_input(inputs, dataset.image_shape, recipe.preprocessing))
    rates = backend.dropout_rates(first.model)
    facts["dropout"] = (f"{rates[0]:g}" + (f" ({len(rates)} layers)" if len(rates) > 1 else "")
                        if rates and len(set(rates)) == 1 else ", ".join(f"{r:g}" for r in rates) if rates else 0.0)
    total, trainable = metrics.count_parameters(first.model)
    summary = summarise(per_seed, dataset.class_names)
    print(f"    {spec.name} · {spec.framework}: timing inference…", flush=True)
    row = {"description": recipe.description,
           "recipe": {"learning_rate": recipe.learning_rate, "batch_size": recipe.batch_size, "epochs": recipe.epochs,
                      "trainer": trainer_name(recipe.trainer), "overrides": list(recipe.overrides), "facts": facts},
           "input": inputs.as_dict(), "parallel": parallel_note(spec, config, first.parallel), **summary, "per_seed": per_seed,
           "params_total": total, "params_trainable": trainable,
           **_latency(backend, first.model, inputs.shape, config.latency_repeats),
           "diagnosis": diagnose(summary["history"], facts)}
    first_result = per_seed[0]
    row.update(_save(spec, first.model, dataset, inputs, out_dir,
                     {"seed": first.seed, "best_epoch": first_result["best_epoch"],
                      "test_accuracy": first_result["test_accuracy"]}))
    return RowOutcome(row, metrics.as_predictions(first.logits), first)


def run_row(spec: RowSpec, dataset, config, out_dir) -> RowOutcome:
    """Measure one row; an unfinished or broken implementation becomes a skipped/failed row, never a crash."""
    base = {"id": spec.row_id, "model": spec.name, "framework": spec.framework, "impl": spec.impl}
    if spec.skip_reason:
        return RowOutcome({**base, "status": "skipped", "reason": spec.skip_reason})
    try:
        outcome = measure_row(spec, dataset, config, out_dir)
    except Exception as error:  # noqa: BLE001 — the learner's code may raise anything; report it, go on
        status, reason = describe_failure(error)
        if spec.impl == "reference" or status == "failed":
            traceback.print_exc()  # a bug, not an unfinished exercise: show where
        return RowOutcome({**base, "status": status, "reason": reason})
    outcome.row = {**base, "status": "ok", **outcome.row}
    return outcome
