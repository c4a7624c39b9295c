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


def _expected_trainable(input_shape, num_classes, widths, hidden_units, kernel_size=3, conv_bias=False) -> int:
    """Trainable parameters of the CNN the docstrings describe (cnn.py and keras_cnn.py): per width a conv
    (no bias, or with one) and BatchNorm's gamma and beta, then Dense(hidden_units) and Dense(num_classes)."""
    height, width, channels = input_shape
    total = 0
    for out in widths:
        total += kernel_size * kernel_size * channels * out + (out if conv_bias else 0) + 2 * out
        channels, height, width = out, height // 2, width // 2
    return total + height * width * channels * hidden_units + hidden_units + hidden_units * num_classes + num_classes


def _check_layers(model) -> None:
    """The layer choices that change what the twin computes, each with its own message, before the count."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            axes = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
            if any(axis not in (-1, 3) for axis in axes):
                fail(f"BatchNormalization(axis={layer.axis}) normalises over the image's rows or columns: Keras "
                     f"images are channels-last (B, H, W, C), so BatchNorm2d's twin keeps the default axis=-1.")
        if isinstance(layer, keras.layers.Conv2D) and layer.padding != "same":
            fail(f"a Conv2D with padding={layer.padding!r}: without 'same' padding each convolution shrinks the "
                 f"image, unlike the PyTorch CNN's padding=kernel_size // 2.")
    rates = [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    if not rates:
        fail("the Keras twin has no Dropout layer: the PyTorch CNN applies Dropout(dropout_rate) before each Dense "
             "layer; add layers.Dropout(dropout_rate) there.")
    expect_true(all(abs(rate - SMALL["dropout_rate"]) < 1e-9 for rate in rates),
                f"the Dropout layers have rates {rates}; build_keras_cnn(dropout_rate={SMALL['dropout_rate']}) "
                f"should use that rate.")


@pytest.mark.points(2)
def test_same_trainable_parameters_as_the_pytorch_cnn(models):
    model, num_classes = _model(models, (28, 28, 1))
    _check_layers(model)
    keras_trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    sizes = dict(widths=SMALL["widths"], hidden_units=SMALL["hidden_units"])
    expected = _expected_trainable((28, 28, 1), num_classes, **sizes)
    with_bias = _expected_trainable((28, 28, 1), num_classes, **sizes, conv_bias=True)  # as a CNN that keeps them
    expect_true(keras_trainable in (expected, with_bias),
                f"with widths={SMALL['widths']}, hidden_units={SMALL['hidden_units']} on 28x28x1 the Keras model has "
                f"{keras_trainable:,} trainable parameters; the CNN of cnn.py has {expected:,} (or {with_bias:,} if its "
                f"convolutions keep their bias). Check the Dense sizes and the number of blocks, and that every block "
                f"is Conv2D -> BatchNormalization -> ReLU -> MaxPooling2D.")


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
    logits = np.asarray(model(vx, training=False), dtype="float64")
    shifted = logits - logits.max(axis=1, keepdims=True)
    cross_entropy = float(np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(vy)), vy]))
    reported = [history["val_loss"][best], history["val_loss"][-1]]
    expect_true(any(abs(cross_entropy - value) < 1e-3 * max(1.0, value) for value in reported),
                f"the validation loss fit_keras reports ({reported[0]:.4f}) is not the cross-entropy of the model's "
                f"logits ({cross_entropy:.4f}): the model has no softmax, so compile with "
                f"SparseCategoricalCrossentropy(from_logits=True).")
    expect_true(max(history["val_acc"]) > 0.85, f"on three well separated blobs the validation accuracy should "
                                                f"exceed 0.85; got {history['val_acc']}: does the loss read the "
                                                f"model's logits (from_logits=True), and the optimizer its rate?")


@pytest.mark.points(2)
@pytest.mark.timeout(60)
def test_fit_keras_restores_the_best_epoch():
    import keras
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)).astype("float32"), rng.integers(0, 3, 64)
    images = rng.normal(size=(16, 4)).astype("float32")
    inputs = keras.Input(shape=(4,))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    plan, seen = [0.25, 1.0, 0.5, 0.25], []  # validation accuracy per epoch: the best epoch is the second

    def validation():  # labels chosen so that the model is right for exactly plan[epoch] of the images
        kernel, bias = (np.array(w) for w in model.layers[-1].get_weights())
        seen.append(kernel.copy())
        predictions = (images @ kernel + bias).argmax(axis=1)
        labels = predictions.copy()
        right = round(plan[min(len(seen) - 1, len(plan) - 1)] * len(images))
        labels[right:] = (labels[right:] + 1) % 3
        yield from zip(images, labels)

    val = tf.data.Dataset.from_generator(validation, output_signature=(
        tf.TensorSpec((4,), tf.float32), tf.TensorSpec((), tf.int64))).batch(8)
    val = val.apply(tf.data.experimental.assert_cardinality(2))
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    history = keras_cnn.fit_keras(model, train, val, epochs=4, learning_rate=0.1, verbose=0)
    expect_true(len(seen) == 4, f"fit_keras validated {len(seen)} times in 4 epochs; expected once per epoch")
    expect_true(history.get("best_epoch") == 1, f"history['best_epoch'] should be 1 (val_acc {plan}), got "
                                                f"{history.get('best_epoch')!r}")
    final = np.array(model.layers[-1].get_weights()[0])
    if np.allclose(final, seen[-1]) and not np.allclose(final, seen[1]):
        fail("after fit_keras the model holds the last epoch's weights, but the best val_acc was at epoch index 1: "
             "restore the best epoch's weights, e.g. keras.callbacks.EarlyStopping(monitor='val_accuracy', "
             "mode='max', patience=epochs, restore_best_weights=True).")
    expect_true(np.allclose(final, seen[1]), "after fit_keras the weights are neither the best epoch's nor the last's")
