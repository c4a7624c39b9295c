"""One row of the comparison: build, train, evaluate, time and save one model (either framework)."""
from __future__ import annotations

import functools
import importlib
import traceback
from dataclasses import dataclass

import numpy as np

from shared import metrics
from shared.compare.checkpoint import save_weights, write_manifest
from shared.compare.diagnose import diagnose
from shared.compare.recipe import Recipe, recipe_for
from shared.compare.rows import RowSpec, describe_failure, short_path
from shared.history import EPOCH_KEYS
from shared.timing import Stopwatch

LATENCY_BATCHES = (1, 64)
HISTORY_KEYS = (*EPOCH_KEYS, "best_epoch")  # AUTHORING.md's history format


@dataclass
class RowOutcome:
    row: dict                          # the row of results.json
    predictions: np.ndarray | None = None  # (N_test,) predicted classes, for the figures


def backend_for(framework: str):
    return importlib.import_module(f"shared.compare.{framework}_backend")


def input_shape_for(dataset, recipe: Recipe) -> tuple[int, int, int]:
    """The dataset's (H, W, C), or the backbone's input size when its preprocessing resizes."""
    height, width, channels = dataset.image_shape
    size = getattr(recipe.preprocessing, "size", None)
    channels = getattr(recipe.preprocessing, "channels", None) or channels
    return (size, size, channels) if size else (height, width, channels)


def normalisation(dataset, recipe: Recipe) -> dict:
    source = recipe.preprocessing if recipe.preprocessing is not None else dataset
    mean, std = getattr(source, "mean", dataset.mean), getattr(source, "std", dataset.std)
    return {"mean": [float(v) for v in mean], "std": [float(v) for v in std],
            "size": input_shape_for(dataset, recipe)[0]}


def _evaluate(logits, labels, dataset) -> dict:
    per_class = metrics.per_class_accuracy(logits, labels, dataset.num_classes)
    return {"test_accuracy": metrics.accuracy(logits, labels),
            "macro_f1": metrics.macro_f1(logits, labels, dataset.num_classes),
            "per_class_accuracy": dict(zip(dataset.class_names, per_class.tolist()))}


def _latency(backend, model, input_shape, repeats: int) -> dict:
    return {f"latency_ms_per_image_batch{size}": backend.latency_ms(model, input_shape, size, repeats)
            for size in LATENCY_BATCHES}


def _save(spec: RowSpec, model, dataset, recipe: Recipe, out_dir, extra: dict) -> dict:
    directory = out_dir / "checkpoints" / spec.row_id
    weights = save_weights(model, spec.framework, directory)
    manifest = write_manifest(
        directory, name=spec.name, framework=spec.framework, impl=spec.impl, num_classes=dataset.num_classes,
        input_shape=list(input_shape_for(dataset, recipe)), class_names=list(dataset.class_names),
        preprocessing=normalisation(dataset, recipe), file=weights.name, dataset=dataset.name, **extra)
    return {"checkpoint": {"file": str(weights.relative_to(out_dir)), "manifest": str(manifest.relative_to(out_dir))},
            "model_size_bytes": weights.stat().st_size}


def _train(spec: RowSpec, dataset, config, recipe: Recipe):
    backend = backend_for(spec.framework)
    model = backend.build(spec.entry, dataset.num_classes, input_shape_for(dataset, recipe), config.seed)
    data = {split: backend.make_data(getattr(dataset, split), train=split == "train", dataset=dataset,
                                     recipe=recipe, seed=config.seed) for split in ("train", "val", "test")}
    trainer = recipe.trainer or backend.default_trainer(spec.impl, recipe, config.progress)
    with Stopwatch() as watch:
        history = trainer(model, data["train"], data["val"], epochs=config.epochs,
                          learning_rate=recipe.learning_rate, seed=config.seed, device=backend.device())
    check_history(history, trainer, config.epochs)
    return backend, model, data, history, watch.seconds


def trainer_name(trainer) -> str:
    """`fit (weeks/week2/training.py)`: the function doing the training, unwrapped from a default trainer."""
    if isinstance(trainer, functools.partial) and trainer.args and callable(trainer.args[0]):
        trainer = trainer.args[0]  # the default trainers wrap week 2's fit/fit_keras
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


def measure_row(spec: RowSpec, dataset, config, out_dir) -> RowOutcome:
    recipe = recipe_for(spec.entry.info, config)
    backend, model, data, history, seconds = _train(spec, dataset, config, recipe)
    logits, labels = backend.predict(model, data["test"])
    if not np.array_equal(labels, dataset.test.labels):
        raise ValueError("the test loader must keep the dataset's order (train=False: no shuffling, no dropping).")
    epochs_run = len(history["train_loss"])
    total, trainable = metrics.count_parameters(model)
    row = {"description": recipe.description or spec.entry.info.get("description", ""),
           "recipe": {"learning_rate": recipe.learning_rate, "batch_size": recipe.batch_size,
                      "optimizer": recipe.optimizer, "overrides": list(recipe.overrides),
                      "normalisation": normalisation(dataset, recipe)},
           "input_shape": list(input_shape_for(dataset, recipe)), **_evaluate(logits, labels, dataset),
           "params_total": total, "params_trainable": trainable, "train_time_s": seconds,
           "train_images_per_s": len(dataset.train.labels) * epochs_run / seconds,
           **_latency(backend, model, input_shape_for(dataset, recipe), config.latency_repeats),
           "best_epoch": int(history["best_epoch"]), "history": history, "diagnosis": diagnose(history)}
    row.update(_save(spec, model, dataset, recipe, out_dir,
                     {"best_epoch": row["best_epoch"], "test_accuracy": row["test_accuracy"]}))
    return RowOutcome(row, metrics.as_predictions(logits))


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
