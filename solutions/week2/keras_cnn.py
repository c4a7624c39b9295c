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
- Same layers are not yet the same model: the two frameworks differ in their defaults (initial weights,
  BatchNorm momentum and epsilon, Adam's epsilon) and in layout (channels last, so Flatten orders the features
  differently). The twin below takes PyTorch's values; `workbook parity cnn` copies the PyTorch weights into
  it, feeds both the same batches and prints both losses step by step.

Run it: `python -m solutions.week2.keras_cnn --epochs 1 --dry-run`.
"""
from __future__ import annotations

import time

import keras
from keras import layers

from shared.history import from_keras
from shared.registry import register_model

from .recipe import RECIPE, Recipe

# Where the two frameworks' defaults differ, the Keras twin takes PyTorch's, so that both train the same model
# (the week-2 lesson shows what each difference costs; `workbook parity cnn` checks the result step by step):
# - BatchNormalization: Keras' momentum 0.99 is PyTorch's momentum=0.1 written the other way round (0.9 here),
#   and Keras' epsilon is 1e-3 where PyTorch's is 1e-5.
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
# - Initial weights: PyTorch draws Conv2d and Linear weights *and biases* from U(-1/sqrt(fan_in), 1/sqrt(fan_in))
#   (kaiming_uniform with a=sqrt(5)); Keras draws kernels with glorot_uniform and starts biases at 0. With Keras'
#   own defaults this CNN stayed at chance on `shapes` for 6 epochs at a constant learning rate of 1e-3.
# - Adam: epsilon 1e-8 (Keras: 1e-7), read from recipe.py like everything else about training.
POOL_FACTOR = 2


def torch_like_init(fan_in: int) -> keras.initializers.Initializer:
    """PyTorch's default for Conv2d/Linear weights and biases: uniform in +-1/sqrt(fan_in), where fan_in is the
    number of inputs of one output unit (kernel height x width x input channels for a convolution)."""
    bound = 1 / fan_in ** 0.5
    return keras.initializers.RandomUniform(-bound, bound)


def torch_like_dense(units: int, fan_in: int, **options) -> layers.Dense:
    """`layers.Dense(units, **options)` initialised as PyTorch initialises `nn.Linear(fan_in, units)`."""
    return layers.Dense(units, kernel_initializer=torch_like_init(fan_in), bias_initializer=torch_like_init(fan_in),
                        **options)


def keras_optimizer(learning_rate: float, total_steps: int, recipe: Recipe = RECIPE) -> keras.optimizers.Optimizer:
    """Adam as recipe.py says, with Keras' built-in warm-up + cosine schedule: the same rate at every step as
    PyTorch's twin (recipe.learning_rates), which a test checks."""
    warmup = recipe.warmup_steps(total_steps)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else learning_rate, decay_steps=total_steps - warmup,
        warmup_target=learning_rate if warmup else None, warmup_steps=warmup)
    return keras.optimizers.Adam(learning_rate=schedule, beta_1=recipe.adam_betas[0], beta_2=recipe.adam_betas[1],
                                 epsilon=recipe.adam_epsilon)


def steps_per_epoch(dataset) -> int:
    """Batches in one pass over a tf.data dataset, from its cardinality (never by iterating: that would spend
    an epoch of the shared shuffled order)."""
    count = int(dataset.cardinality())
    if count < 1:
        raise ValueError("the training dataset has no known number of batches; build it with "
                         "shared.data.keras_data.make_dataset (or apply tf.data.experimental.assert_cardinality)")
    return count


def train_keras(model: keras.Model, train_ds, val_ds, *, epochs: int, learning_rate: float = RECIPE.learning_rate,
                seed: int | None = None, device=None, progress: bool = True) -> dict:
    """How `workbook compare` trains this week's Keras models: recipe.py's recipe, then `fit_keras` below (Keras
    places the model on a device itself, so `device` is unused). The PyTorch twin is training.py's
    `train_with_adam`. Defined here, before the models that name it in their registration."""
    optimizer = keras_optimizer(learning_rate, epochs * steps_per_epoch(train_ds))
    return fit_keras(model, train_ds, val_ds, epochs=epochs, learning_rate=learning_rate, seed=seed,
                     verbose=1 if progress else 0, optimizer=optimizer)


@register_model("cnn", framework="keras", trainer=train_keras, recipe=RECIPE.facts(), gradcam_layer=("ReLU", -1),
                description="Functional twin of the PyTorch CNN")
def build_keras_cnn(num_classes: int = 10, input_shape: tuple[int, int, int] = (32, 32, 3),
                    widths: tuple[int, ...] = (32, 64, 128), hidden_units: int = 128, dropout_rate: float = 0.3,
                    kernel_size: int = 3) -> keras.Model:
    """The CNN of cnn.py with the Functional API: images (B, H, W, C) -> logits (B, num_classes).

    Same arguments and the same trainable parameter count as `CNN(num_classes, input_shape, widths, ...)`:
    per width a block Conv2D(same padding, no bias) -> BatchNormalization -> ReLU -> MaxPooling2D(2), then
    Flatten -> Dropout -> Dense(hidden_units, relu) -> Dropout -> Dense(num_classes) without activation.
    Initialised as PyTorch initialises the CNN (`torch_like_init`, `torch_like_dense`), with PyTorch's BatchNorm
    settings (BN_MOMENTUM, BN_EPSILON): Keras' own defaults train the same layers differently.
    """
    ### BEGIN SOLUTION
    height, width, _ = input_shape
    smallest = POOL_FACTOR ** len(widths)
    if min(height, width) < smallest:
        raise ValueError(f"{len(widths)} pooling blocks need images of at least {smallest}x{smallest}; "
                         f"got {height}x{width}")
    inputs = keras.Input(shape=tuple(input_shape))                    # (B, H, W, C)
    x = inputs
    for channels in widths:
        fan_in = kernel_size * kernel_size * x.shape[-1]
        x = layers.Conv2D(channels, kernel_size, padding="same", use_bias=False,
                          kernel_initializer=torch_like_init(fan_in))(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON)(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D(POOL_FACTOR)(x)                       # (B, H/2, W/2, channels)
    x = layers.Flatten()(x)                                           # Keras infers the flatten size
    x = layers.Dropout(dropout_rate)(x)
    x = torch_like_dense(hidden_units, x.shape[-1], activation="relu")(x)
    x = layers.Dropout(dropout_rate)(x)
    outputs = torch_like_dense(num_classes, hidden_units)(x)         # logits: the loss uses from_logits=True
    return keras.Model(inputs, outputs, name="cnn")
    ### END SOLUTION


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
              verbose="auto", seed: int | None = None, optimizer: keras.optimizers.Optimizer | None = None) -> dict:
    """Compile `model` (`optimizer`, by default Adam at `learning_rate`; sparse categorical cross-entropy on
    logits; accuracy) and fit it.

    train_ds, val_ds: batched datasets of (images (B, H, W, C) float32, integer labels (B,)), e.g. from
    `shared.data.keras_data.make_dataset`. Returns the history in the shared format (`shared.history`), with
    `epoch_time_s` and `lr` from a callback. Like PyTorch's `fit`, the model ends with the weights of the
    epoch with the best validation accuracy. `verbose` is Keras' (the progress bar by default).
    """
    ### BEGIN SOLUTION
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if seed is not None:
        keras.utils.set_random_seed(seed)
    model.compile(
        optimizer=optimizer if optimizer is not None else keras.optimizers.Adam(learning_rate=learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),  # the model outputs logits
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
    ### END SOLUTION


def count_keras_parameters(model: keras.Model) -> tuple[int, int]:
    """(total, trainable) weights of a Keras model; total includes BatchNorm's moving statistics."""
    trainable = sum(int(keras.ops.size(w)) for w in model.trainable_weights)
    return int(model.count_params()), trainable


@register_model("lstm", framework="keras", trainer=train_keras, recipe=RECIPE.facts(),
                description="Reads the image row by row with layers.LSTM")
def build_keras_lstm(num_classes: int, input_shape: tuple[int, int, int] = (32, 32, 3),
                     hidden_size: int = 128, **options) -> keras.Model:
    """Twin of lstm.py's LSTMClassifier: each of the H rows (W*C values) is one time step; logits from the
    last hidden state. Keras' LSTM has one bias per gate where PyTorch has two (b_ih + b_hh), so it has
    4*hidden_size fewer parameters. The gates come in the same order (input, forget, cell, output).

    Initialised as PyTorch initialises nn.LSTM: every weight uniform in +-1/sqrt(hidden_size); the one bias
    uniform with the variance of PyTorch's two added together; no forget-gate bias of 1. (Keras' defaults are
    glorot_uniform kernels, orthogonal recurrent kernels, zero biases and a forget-gate bias of 1.)"""
    if options:
        raise ValueError(f"unknown options for the Keras LSTM: {', '.join(options)}")
    height, width, channels = input_shape
    bound = 1 / hidden_size ** 0.5
    inputs = keras.Input(shape=tuple(input_shape))                    # (B, H, W, C)
    rows = layers.Reshape((height, width * channels))(inputs)        # (B, H, W*C): one row per time step
    last = layers.LSTM(hidden_size, kernel_initializer=keras.initializers.RandomUniform(-bound, bound),
                       recurrent_initializer=keras.initializers.RandomUniform(-bound, bound),
                       bias_initializer=keras.initializers.RandomUniform(-bound * 2 ** 0.5, bound * 2 ** 0.5),
                       unit_forget_bias=False)(rows)                 # (B, hidden): the last hidden state
    outputs = torch_like_dense(num_classes, hidden_size)(last)
    return keras.Model(inputs, outputs, name="lstm")


def main(argv: list[str] | None = None) -> None:
    from .run import main as run_main

    run_main(argv, model_name="cnn", framework="keras")


if __name__ == "__main__":
    main()
