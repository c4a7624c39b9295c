"""Week 3 · keras_twins.py: Keras schedules, preprocessing layers, built-in callbacks and a mixed-precision model."""
from __future__ import annotations


import numpy as np
import pytest

from shared.grading.checks import expect_close, expect_shape, expect_true
from shared.grading.target import exercise

twins = exercise("week3", "keras_twins")


@pytest.mark.points(1)
def test_keras_schedules():
    schedule = twins.keras_cosine_warmup(0.1, total_steps=100, warmup_steps=10)
    values = [float(schedule(step)) for step in (0, 5, 10, 55, 100)]
    expect_close("Keras cosine+warmup LR at steps 0, 5, 10, 55, 100", values, [0.0, 0.05, 0.1, 0.05, 0.0], atol=2e-3)
    callback = twins.keras_step_decay(0.1, step_size=2, gamma=0.5)
    expect_close("LearningRateScheduler LR at epochs 0..4", [float(callback.schedule(e, 0.1)) for e in range(5)],
                 [0.1, 0.1, 0.05, 0.05, 0.025], atol=1e-9)


@pytest.mark.points(1)
def test_keras_augmentation_only_in_training():
    images = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    augment = twins.keras_augmentation(16)
    train = np.asarray(augment(images, training=True))
    expect_shape("augmented batch", train, (4, 16, 16, 3))
    expect_true(not np.allclose(train, images), "with training=True the preprocessing layers should change the images")
    expect_close("the batch with training=False (inference: no augmentation)", np.asarray(augment(images, training=False)),
                 images, atol=1e-3)


@pytest.mark.points(1)
def test_keras_callbacks_restore_best():
    import keras

    callbacks = twins.keras_callbacks("best.keras", monitor="val_loss", patience=4)
    kinds = {type(c).__name__: c for c in callbacks}
    for name in ("EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau"):
        expect_true(name in kinds, f"expected a keras.callbacks.{name}, got {sorted(kinds)}")
    expect_true(kinds["EarlyStopping"].restore_best_weights,
                "Keras's EarlyStopping keeps the last weights unless restore_best_weights=True")
    expect_true(kinds["ModelCheckpoint"].save_best_only, "ModelCheckpoint should keep the best model (save_best_only=True)")
    expect_true(isinstance(callbacks[0], keras.callbacks.Callback), "callbacks must be keras.callbacks.Callback objects")


@pytest.mark.points(2)
def test_mixed_precision_model_has_float32_output():
    import keras

    before = keras.config.dtype_policy().name
    model = twins.build_keras_mixed_cnn(5, (16, 16, 3), policy="mixed_bfloat16")
    output = model(np.zeros((2, 16, 16, 3), "float32"))
    expect_shape("model output", output, (2, 5))
    compute = {layer.compute_dtype for layer in model.layers[1:-1]}
    expect_true("bfloat16" in compute, f"the hidden layers should compute in bfloat16 under mixed_bfloat16, got {compute}")
    output_dtype = keras.backend.standardize_dtype(output.dtype)
    expect_true(output_dtype == "float32",
                f"the output is {output_dtype}: keep the output layer in float32 (dtype='float32'), so the softmax and "
                f"the loss do not run in 16 bits")
    expect_true(all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in model.weights), "variables must stay float32")
    after = keras.config.dtype_policy().name
    if after != before:
        keras.config.set_dtype_policy(before)
    expect_true(after == before, f"the global dtype policy changed from {before} to {after}: pass dtype= per layer")
