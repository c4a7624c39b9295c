"""Week 2 · keras_cnn.py: the Functional CNN's shapes, its parity with the PyTorch CNN, and fit_keras' history.

Keras models are built once per module (a module-scoped fixture): importing TensorFlow and building models is
the slow part of this file.
"""
from __future__ import annotations


import numpy as np
import pytest

from shared.grading.checks import expect_shape, expect_true, fail
from shared.grading.target import exercise


keras_cnn = exercise("week2", "keras_cnn")
cnn = exercise("week2", "cnn")

SMALL = dict(widths=(8, 16, 32), hidden_units=32, dropout_rate=0.25)
HISTORY_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "epoch_time_s")


@pytest.fixture(scope="module")
def models():
    """{input_shape: model} built with the learner's build_keras_cnn, or the NotImplementedError of a stub."""
    built = {}
    for input_shape, num_classes in (((28, 28, 1), 10), ((40, 40, 3), 5)):
        try:
            built[input_shape] = (keras_cnn.build_keras_cnn(num_classes, input_shape, **SMALL), num_classes)
        except NotImplementedError as error:  # re-raised inside each test: "not started", not a setup error
            built[input_shape] = error
    return built


def _model(models, input_shape):
    entry = models[input_shape]
    if isinstance(entry, BaseException):
        raise entry
    return entry


@pytest.mark.points(2)
def test_output_shapes(models):
    for input_shape in models:
        model, num_classes = _model(models, input_shape)
        images = np.random.default_rng(0).normal(size=(2, *input_shape)).astype("float32")  # (B, H, W, C)
        out = np.asarray(model(images, training=False))
        expect_shape(f"build_keras_cnn({num_classes}, {input_shape}) output", out, (2, num_classes))
        expect_true(bool(np.isfinite(out).all()), f"the output for input_shape={input_shape} has NaN or inf")
        if bool((out >= 0).all()) and np.allclose(out.sum(axis=1), 1.0, atol=1e-4):
            fail("the Keras model outputs probabilities (rows >= 0 summing to 1): end with Dense(num_classes) "
                 "without activation, and let the loss apply the softmax (from_logits=True), as in PyTorch.")


@pytest.mark.points(2)
def test_same_trainable_parameters_as_the_pytorch_cnn(models):
    model, num_classes = _model(models, (28, 28, 1))
    keras_trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    import torch

    torch_model = cnn.CNN(num_classes=num_classes, input_shape=(28, 28, 1), **SMALL).eval()
    with torch.no_grad():
        torch_model(torch.zeros(2, 1, 28, 28))  # materialises lazy layers (nn.LazyLinear), if any
    _, torch_trainable = cnn.count_parameters(torch_model)
    expect_true(keras_trainable == torch_trainable,
                f"with widths={SMALL['widths']}, hidden_units={SMALL['hidden_units']} on 28x28x1 the Keras model has "
                f"{keras_trainable:,} trainable parameters and your PyTorch CNN {torch_trainable:,}; the twins "
                f"should match layer for layer (check use_bias on Conv2D when Conv2d has bias=False, the Dense sizes, "
                f"and the number of blocks).")


def _blobs(n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    centres = np.array([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]], dtype="float32")
    return (centres[labels] + rng.normal(size=(n, 2))).astype("float32"), labels


@pytest.mark.points(2)
@pytest.mark.timeout(60)
def test_fit_keras_history_and_learning():
    import keras
    import tensorflow as tf

    x, y = _blobs(256, 0)
    vx, vy = _blobs(64, 1)
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    val = tf.data.Dataset.from_tensor_slices((vx, vy)).batch(32)
    inputs = keras.Input(shape=(2,))
    outputs = keras.layers.Dense(3)(keras.layers.Dense(16, activation="relu")(inputs))  # logits
    model = keras.Model(inputs, outputs)
    history = keras_cnn.fit_keras(model, train, val, epochs=3, learning_rate=0.03, verbose=0)
    expect_true(isinstance(history, dict), f"fit_keras should return the history in the shared format (a dict; use "
                                           f"shared.history.from_keras), got {type(history).__name__}")
    for key in HISTORY_KEYS:
        expect_true(key in history and len(history[key]) == 3,
                    f"history[{key!r}] should hold one value per epoch (3); got {history.get(key)!r}")
    best = int(np.argmax(history["val_acc"]))
    expect_true(history.get("best_epoch") == best, f"history['best_epoch'] should be {best}, the index of the "
                                                   f"highest val_acc {history['val_acc']}")
    expect_true(history["train_loss"][-1] < history["train_loss"][0],
                f"the training loss did not decrease: {history['train_loss']}; does the loss match the model's "
                f"outputs (logits: from_logits=True)?")
    expect_true(max(history["val_acc"]) > 0.85, f"on three well separated blobs the validation accuracy should "
                                                f"exceed 0.85; got {history['val_acc']}")
