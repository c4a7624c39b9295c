"""Week 3 · keras_distributed.py: two real replicas (MirroredStrategy on two logical CPUs), variables made in the
strategy's scope, the global batch, and two replicas training exactly like one device with the whole batch.

TensorFlow's logical devices can only be configured before it initialises its devices, which the autograder's own
process has long done (other tests ran Keras). So everything runs once, in a fresh process of its own
(shared.distributed.run_in_fresh_process), bounded in time and killed with anything it started; each test reads
its part of the results.
"""
from __future__ import annotations

import os
import traceback
from pathlib import Path

import numpy as np
import pytest

from shared.distributed import LaunchError, LaunchTimeout, run_in_fresh_process
from shared.grading.checks import expect_close, expect_true, fail
from shared.grading.target import exercise

twin = exercise("week3", "keras_distributed")

REPLICAS, PER_REPLICA_BATCH, EXAMPLES, LEARNING_RATE, EPOCHS = 2, 4, 32, 0.1, 2
BUDGET_S = 90   # TensorFlow's import alone takes ~5 s on a quiet 2-core machine


def _short(path: str) -> str:
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _describe(error: BaseException) -> dict:
    try:
        week_folder = Path(twin.module().__file__).resolve().parent
    except BaseException:  # noqa: BLE001 (the module itself does not import)
        week_folder = None
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if week_folder is not None and Path(f.filename).resolve().parent == week_folder]
    return {"error": type(error).__name__, "message": str(error).strip()[:800],
            "where": f"{_short(frames[-1].filename)}:{frames[-1].lineno}" if frames else ""}


def _run_in_fresh_process() -> dict:
    """Runs in the fresh process: each part graded separately, with the autograder's own stand-in when an earlier
    part failed, so that one unfinished function does not hide the others."""
    import tensorflow as tf
    import keras

    results = {}

    def attempt(name, function, fallback=None):
        try:
            value, results[name] = function()
            return value
        except BaseException as error:  # noqa: BLE001
            results[name] = _describe(error)
            return fallback() if fallback else None

    def split():
        names = twin.split_cpu(REPLICAS)
        return names, {"names": list(names), "logical": [d.name for d in tf.config.list_logical_devices("CPU")]}

    def own_split():  # too late if the learner's code already started TensorFlow: then it is one device
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * REPLICAS)
        except RuntimeError:
            pass
        return [d.name for d in tf.config.list_logical_devices("CPU")]

    devices = attempt("split", split, own_split)

    def strategy():
        made = twin.make_strategy(devices)
        return made, {"type": type(made).__name__, "replicas": int(made.num_replicas_in_sync),
                      "devices": list(made.extended.worker_devices)}

    strategy = attempt("strategy", strategy, lambda: tf.distribute.MirroredStrategy(devices))
    attempt("batch", lambda: (None, {"global": twin.global_batch_size(PER_REPLICA_BATCH, strategy),
                                     "replicas": int(strategy.num_replicas_in_sync)}))

    rng = np.random.default_rng(0)
    images = rng.standard_normal((EXAMPLES, 4, 4, 3)).astype("float32")
    labels = rng.integers(0, 3, EXAMPLES)
    keras.utils.set_random_seed(0)

    def build():
        return keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(),
                                 keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(3)])

    initial = build().get_weights()

    def built():
        model = twin.build_and_compile(strategy, lambda: _with_weights(build(), initial), LEARNING_RATE)
        variables = list(model.weights)
        return model, {"mirrored": [isinstance(v.value, tf.distribute.DistributedValues) for v in variables],
                       "compiled": bool(getattr(model, "compiled", False))}

    model = attempt("scope", built)

    def fitted():
        if model is None:
            raise RuntimeError("build_and_compile did not return a model, so there is nothing to train")
        history = twin.fit_distributed(model, strategy, images, labels, per_replica_batch=PER_REPLICA_BATCH,
                                       epochs=EPOCHS, shuffle=False)
        reference = _with_weights(build(), initial)  # one device, the whole batch
        reference.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE, momentum=0.9),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        batch = PER_REPLICA_BATCH * int(strategy.num_replicas_in_sync)
        expected = reference.fit(images, labels, batch_size=batch, epochs=EPOCHS,
                                 shuffle=False, verbose=0)
        return None, {"weights": [np.asarray(w) for w in model.get_weights()], "batch": batch,
                      "expected": [np.asarray(w) for w in reference.get_weights()],
                      "history": {k: [float(x) for x in v] for k, v in dict(history).items()},
                      "expected_history": {k: [float(x) for x in v] for k, v in expected.history.items()}}

    attempt("fit", fitted)
    return results


def _with_weights(model, weights):
    model.set_weights(weights)
    return model


@pytest.fixture(scope="module")
def replicas() -> dict:
    try:
        return run_in_fresh_process(_run_in_fresh_process, timeout_s=BUDGET_S, capture_output=True,
                                    extra_env={"CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"})
    except LaunchTimeout:
        return {"problem": f"the Keras process did not finish within {BUDGET_S} s and was killed: an endless loop?"}
    except LaunchError as error:
        return {"problem": f"the Keras process failed: {str(error).strip().splitlines()[0][:400]}"}


def _part(results: dict, name: str, what: str) -> dict:
    if "problem" in results:
        fail(results["problem"])
    result = results[name]
    if "error" in result:
        where = f" at {result['where']}" if result["where"] else ""
        if result["error"] == "NotImplementedError":
            raise NotImplementedError(f"{what}{where}")
        if result["error"] == "Failed":
            fail(result["message"])
        if "initialized" in result["message"] or "initialised" in result["message"]:
            fail(f"{what}{where} raised {result['error']}: {result['message'][:300]} — configure the logical "
                 f"devices before anything creates a tensor or a model in the process")
        fail(f"{what}{where} raised {result['error']}: {result['message'][:500]}")
    return result


@pytest.mark.points(1)
@pytest.mark.timeout(BUDGET_S + 30)
def test_two_replicas_on_two_logical_cpus(replicas):
    split = _part(replicas, "split", "split_cpu(2)")
    expect_true(len(split["names"]) == REPLICAS and split["logical"] == split["names"],
                f"split_cpu(2) should return the 2 logical CPUs' names, got {split['names']} (TensorFlow lists "
                f"{split['logical']}): set_logical_device_configuration with two LogicalDeviceConfiguration()")
    strategy = _part(replicas, "strategy", "make_strategy")
    expect_true(strategy["type"] == "MirroredStrategy", f"make_strategy returned a {strategy['type']}, "
                                                        f"not a tf.distribute.MirroredStrategy")
    expect_true(strategy["replicas"] == REPLICAS, f"the strategy has {strategy['replicas']} replica(s) on "
                                                  f"{strategy['devices']}; give it both logical CPUs")


@pytest.mark.points(1)
@pytest.mark.timeout(BUDGET_S + 30)
def test_model_and_optimizer_are_made_in_the_scope(replicas):
    built = _part(replicas, "scope", "build_and_compile")
    expect_true(built["compiled"], "build_and_compile returned a model that is not compiled")
    if not all(built["mirrored"]):
        fail(f"{built['mirrored'].count(False)} of the model's {len(built['mirrored'])} variables are not mirrored: "
             f"build the model inside `with strategy.scope():` (variables made outside it live on one device only)")


@pytest.mark.points(2)
@pytest.mark.timeout(BUDGET_S + 30)
def test_two_replicas_train_like_one_device_with_the_whole_batch(replicas):
    batch = _part(replicas, "batch", "global_batch_size")
    count, expected_batch = batch["replicas"], PER_REPLICA_BATCH * batch["replicas"]
    if batch["global"] == PER_REPLICA_BATCH and count > 1:
        fail(f"global_batch_size({PER_REPLICA_BATCH}, strategy) returned {PER_REPLICA_BATCH}, the per-replica batch: "
             f"`fit` takes the global batch, {PER_REPLICA_BATCH} x {count} replicas = {expected_batch}")
    expect_true(batch["global"] == expected_batch, f"global_batch_size({PER_REPLICA_BATCH}, strategy with {count} "
                                                   f"replicas) should be {expected_batch}, got {batch['global']!r}")
    fitted = _part(replicas, "fit", "fit_distributed")
    expect_true("loss" in fitted["history"] and len(fitted["history"]["loss"]) == EPOCHS,
                f"fit_distributed should return History.history with {EPOCHS} losses, got {fitted['history']}")
    for index, (got, expected) in enumerate(zip(fitted["weights"], fitted["expected"])):
        expect_close(f"weight {index} after {EPOCHS} epochs on {count} replicas vs one device with batch "
                     f"{fitted['batch']}", got, expected, atol=1e-5, rtol=1e-4,
                     hint="give fit the global batch (per-replica batch x strategy.num_replicas_in_sync)")
