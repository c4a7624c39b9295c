# Mutant of solutions/week2/keras_cnn.py: fit_keras compiles from_logits=False for a model that outputs logits.
# expect: from_logits
"""Week 2 · Exercise 4: The same CNN in Keras 3: the Functional API, compile and fit.

What you will learn
- The Functional API: start from `keras.Input(shape=(H, W, C))`, call layers on tensors, wrap inputs and
  outputs in `keras.Model`. Keras works channels-last: (B, H, W, C), where PyTorch uses (B, C, H, W).
- How the PyTorch CNN of cnn.py maps onto Keras layers, to the same number of trainable parameters:
  Conv2d(bias=False) = Conv2D(use_bias=False), BatchNorm2d = BatchNormalization, MaxPool2d = MaxPooling2D,
  Linear = Dense. (Keras also counts BatchNorm's moving mean and variance, as *non-trainable* weights;
  PyTorch keeps them as buffers, outside `parameters()`.)
- `compile` + `fit(validation_data=...)` replace the hand-written loop of training.py; callbacks take the
  place of its extras (timing each epoch, restoring the best weights).

Run it: `python -m solutions.week2.keras_cnn --epochs 1 --dry-run`.
"""
from __future__ import annotations

import time

import keras
from keras import layers

from shared.history import from_keras
from shared.registry import register_model

# The PyTorch defaults, so that both frameworks train the same model: Keras' BatchNormalization defaults to
# momentum 0.99 (PyTorch's momentum=0.1 means 0.9 here) and epsilon 1e-3 (PyTorch: 1e-5).
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
# PyTorch's default initialiser for Conv2d and Linear, kaiming_uniform(a=sqrt(5)), is U(-1/sqrt(fan_in), ...):
# in Keras that is VarianceScaling(1/3, "fan_in", "uniform"). Keras' own default (glorot_uniform) matters here: with
# it this CNN stayed at chance on `shapes` for 6 epochs (train accuracy 0.10 -> 0.13), while with PyTorch's it
# reached 0.41 train / 0.55 validation accuracy (4,000 images, seed 0). Same layers, different defaults.
POOL_FACTOR = 2


def train_keras(model: keras.Model, train_ds, val_ds, *, epochs: int, learning_rate: float = 1e-3,
                seed: int | None = None, device=None, progress: bool = True) -> dict:
    """How `workbook compare` trains this week's Keras models: `fit_keras` below (Keras places the model on a
    device itself, so `device` is unused). Defined here, before the models that name it in their registration."""
    return fit_keras(model, train_ds, val_ds, epochs=epochs, learning_rate=learning_rate, seed=seed,
                     verbose=1 if progress else 0)


@register_model("cnn", framework="keras", trainer=train_keras, gradcam_layer=("ReLU", -1),
                description="Functional twin of the PyTorch CNN")
def build_keras_cnn(num_classes: int = 10, input_shape: tuple[int, int, int] = (32, 32, 3),
                    widths: tuple[int, ...] = (32, 64, 128), hidden_units: int = 128, dropout_rate: float = 0.3,
                    kernel_size: int = 3) -> keras.Model:
    """The CNN of cnn.py with the Functional API: images (B, H, W, C) -> logits (B, num_classes).

    Same arguments and the same trainable parameter count as `CNN(num_classes, input_shape, widths, ...)`:
    per width a block Conv2D(same padding, no bias) -> BatchNormalization -> ReLU -> MaxPooling2D(2), then
    Flatten -> Dropout -> Dense(hidden_units, relu) -> Dropout -> Dense(num_classes) without activation.
    """
    height, width, _ = input_shape
    smallest = POOL_FACTOR ** len(widths)
    if min(height, width) < smallest:
        raise ValueError(f"{len(widths)} pooling blocks need images of at least {smallest}x{smallest}; "
                         f"got {height}x{width}")
    def init():  # a fresh initialiser per layer (VarianceScaling(1/3, fan_in, uniform) = PyTorch's default)
        return keras.initializers.VarianceScaling(scale=1 / 3, mode="fan_in", distribution="uniform")

    inputs = keras.Input(shape=tuple(input_shape))                    # (B, H, W, C)
    x = inputs
    for channels in widths:
        x = layers.Conv2D(channels, kernel_size, padding="same", use_bias=False, kernel_initializer=init())(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON)(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D(POOL_FACTOR)(x)                       # (B, H/2, W/2, channels)
    x = layers.Flatten()(x)                                           # Keras infers the flatten size
    x = layers.Dropout(dropout_rate)(x)
    x = layers.Dense(hidden_units, activation="relu", kernel_initializer=init())(x)
    x = layers.Dropout(dropout_rate)(x)
    outputs = layers.Dense(num_classes, kernel_initializer=init())(x)  # logits: the loss uses from_logits=True
    return keras.Model(inputs, outputs, name="cnn")


class EpochTimer(keras.callbacks.Callback):
    """Records each epoch's wall-clock seconds and learning rate, for the shared history format."""

    def on_train_begin(self, logs=None):
        self.times, self.learning_rates = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self.learning_rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def fit_keras(model: keras.Model, train_ds, val_ds, *, epochs: int, learning_rate: float = 1e-3,
              verbose="auto", seed: int | None = None) -> dict:
    """Compile `model` (Adam, sparse categorical cross-entropy on logits, accuracy) and fit it.

    train_ds, val_ds: batched datasets of (images (B, H, W, C) float32, integer labels (B,)), e.g. from
    `shared.data.keras_data.make_dataset`. Returns the history in the shared format (`shared.history`), with
    `epoch_time_s` and `lr` from a callback. Like PyTorch's `fit`, the model ends with the weights of the
    epoch with the best validation accuracy. `verbose` is Keras' (the progress bar by default).
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if seed is not None:
        keras.utils.set_random_seed(seed)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=False),
        metrics=["accuracy"],
    )
    timer = EpochTimer()
    # patience=epochs never stops early: the callback is here to restore the best epoch's weights at the end.
    best = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=epochs,
                                         restore_best_weights=True)
    # shuffle=False: a tf.data pipeline shuffles itself (make_dataset does, for training).
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=[timer, best],
                        shuffle=False, verbose=verbose)
    return from_keras(history, epoch_times=timer.times, learning_rates=timer.learning_rates)


def count_keras_parameters(model: keras.Model) -> tuple[int, int]:
    """(total, trainable) weights of a Keras model; total includes BatchNorm's moving statistics."""
    trainable = sum(int(keras.ops.size(w)) for w in model.trainable_weights)
    return int(model.count_params()), trainable


@register_model("lstm", framework="keras", trainer=train_keras,
                description="Reads the image row by row with layers.LSTM")
def build_keras_lstm(num_classes: int, input_shape: tuple[int, int, int] = (32, 32, 3),
                     hidden_size: int = 128, **options) -> keras.Model:
    """Twin of lstm.py's LSTMClassifier: each of the H rows (W*C values) is one time step; logits from the
    last hidden state. Keras' LSTM has one bias per gate where PyTorch has two, so it has 4*hidden_size
    fewer parameters."""
    if options:
        raise ValueError(f"unknown options for the Keras LSTM: {', '.join(options)}")
    height, width, channels = input_shape
    inputs = keras.Input(shape=tuple(input_shape))                    # (B, H, W, C)
    rows = layers.Reshape((height, width * channels))(inputs)        # (B, H, W*C): one row per time step
    last = layers.LSTM(hidden_size)(rows)                            # (B, hidden): the last hidden state
    outputs = layers.Dense(num_classes)(last)
    return keras.Model(inputs, outputs, name="lstm")


def main(argv: list[str] | None = None) -> None:
    from .run import main as run_main

    run_main(argv, model_name="cnn", framework="keras")


if __name__ == "__main__":
    main()
