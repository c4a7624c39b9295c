"""One row of the comparison: build, train, evaluate, time and save one model (either framework)."""
from __future__ import annotations

import traceback
from dataclasses import dataclass

import numpy as np

from shared import metrics, reference
from shared.checkpoints import Manifest, save_model
from shared.compare.data_parallel import parallel_fields, supports_data_parallel, train_data_parallel
from shared.compare.plan import RowSpec, describe_failure, short_path
from shared.compare.recipe import Recipe, recipe_for
from shared.data import input_spec
from shared.history import EPOCH_KEYS
from shared.timing import Stopwatch

LATENCY_BATCHES = (1, 64)
HISTORY_KEYS = (*EPOCH_KEYS, "best_epoch")  # AUTHORING.md's history format


@dataclass
class RowOutcome:
    row: dict                          # the row of results.json
    predictions: np.ndarray | None = None  # (N_test,) predicted classes, for the figures


def backend_for(framework: str):
    """The module that trains and measures models of `framework`: torch_backend or keras_backend."""
    if framework == "torch":
        from shared.compare import torch_backend

        return torch_backend
    from shared.compare import keras_backend

    return keras_backend


def diagnose(history: dict) -> dict:
    """Week 3's diagnosis of a history, as a dict for results.json, with the train/validation accuracy gap."""
    result = reference.diagnose(history)
    gap = float(history["train_acc"][-1] - history["val_acc"][-1])
    return {"verdict": result.verdict, "message": result.message, "evidence": result.evidence,
            "advice": result.advice, "gap": gap}


def _evaluate(logits, labels, dataset) -> dict:
    per_class = metrics.per_class_accuracy(logits, labels, dataset.num_classes)
    return {"test_accuracy": metrics.accuracy(logits, labels),
            "macro_f1": metrics.macro_f1(logits, labels, dataset.num_classes),
            "per_class_accuracy": dict(zip(dataset.class_names, per_class.tolist()))}


def _latency(backend, model, input_shape, repeats: int) -> dict:
    return {f"latency_ms_per_image_batch{size}": backend.latency_ms(model, input_shape, size, repeats)
            for size in LATENCY_BATCHES}


def _save(spec: RowSpec, model, dataset, inputs, out_dir, metrics_: dict) -> dict:
    directory = out_dir / "checkpoints" / spec.row_id
    manifest = Manifest(name=spec.name, framework=spec.framework, impl=spec.impl,
                        class_names=list(dataset.class_names), input=inputs, dataset=dataset.name, metrics=metrics_)
    weights = save_model(directory, model, manifest)
    return {"checkpoint": {"file": str(weights.relative_to(out_dir)),
                           "manifest": str((directory / "manifest.json").relative_to(out_dir))},
            "model_size_bytes": weights.stat().st_size}


def _train(spec: RowSpec, dataset, config, recipe: Recipe, inputs):
    backend = backend_for(spec.framework)
    model = backend.build(spec.entry, dataset.num_classes, inputs.shape, config.seed)
    data = {split: backend.make_data(getattr(dataset, split), train=split == "train", spec=inputs,
                                     batch_size=recipe.batch_size, seed=config.seed)
            for split in ("train", "val", "test")}
    parallel = parallel_fields(1, recipe.batch_size, None)
    with Stopwatch() as watch:
        if config.nproc > 1 and spec.framework == "torch" and supports_data_parallel(spec.entry):
            state, history, dist_backend = train_data_parallel(spec, dataset, config, recipe, inputs, config.nproc)
            model.load_state_dict(state)
            parallel = parallel_fields(config.nproc, recipe.batch_size, dist_backend)
        else:
            history = recipe.trainer(model, data["train"], data["val"], epochs=config.epochs,
                                     learning_rate=recipe.learning_rate, seed=config.seed, device=backend.device(),
                                     progress=config.progress)
    if config.nproc > 1 and parallel["world_size"] == 1:
        why = ("Keras rows run on one process here (tf.distribute needs several devices to be real)"
               if spec.framework == "keras" else "its trainer changes which parameters train mid-run, which "
               "DistributedDataParallel does not allow")
        parallel["note"] = f"trained on one process: {why}"
    check_history(history, recipe.trainer, config.epochs)
    return backend, model, data, history, watch.seconds, parallel


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


def measure_row(spec: RowSpec, dataset, config, out_dir) -> RowOutcome:
    recipe = recipe_for(spec.entry.info, config)
    inputs = input_spec(dataset.image_shape, dataset.mean, dataset.std, recipe.preprocessing)  # the one decision
    backend, model, data, history, seconds, parallel = _train(spec, dataset, config, recipe, inputs)
    logits, labels = backend.predict(model, data["test"])
    if not np.array_equal(labels, dataset.test.labels):
        raise ValueError("the test loader must keep the dataset's order (train=False: no shuffling, no dropping).")
    epochs_run = len(history["train_loss"])
    total, trainable = metrics.count_parameters(model)
    row = {"description": recipe.description,
           "recipe": {"learning_rate": recipe.learning_rate, "batch_size": recipe.batch_size,
                      "trainer": trainer_name(recipe.trainer), "overrides": list(recipe.overrides)},
           "input": inputs.as_dict(), "parallel": parallel, **_evaluate(logits, labels, dataset),
           "params_total": total, "params_trainable": trainable, "train_time_s": seconds,
           "train_images_per_s": len(dataset.train.labels) * epochs_run / seconds,
           **_latency(backend, model, inputs.shape, config.latency_repeats),
           "best_epoch": int(history["best_epoch"]), "history": history, "diagnosis": diagnose(history)}
    row.update(_save(spec, model, dataset, inputs, out_dir,
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
