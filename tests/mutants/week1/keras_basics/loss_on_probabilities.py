# Mutant of solutions/week1/keras_basics.py: keras_gradients uses from_logits=False on logits.
# expect: from_logits=True
"""Week 1 · Exercise 6: The same MLP in Keras 3 (TensorFlow backend), and gradients with tf.GradientTape.

What you will learn
- to build a model with the Keras Functional API (`keras.Input` -> layers -> `keras.Model`);
- to compute gradients explicitly with `tf.GradientTape`, the TensorFlow counterpart of `loss.backward()`;
- that, for the same weights and the same batch, Keras and PyTorch give the same logits and gradients.

Where the two APIs differ (what trips people up when moving between them)
- Weight layout: `keras.layers.Dense` keeps its kernel as (in, out) and computes x @ kernel + bias, like W1 in
  backprop.py; `torch.nn.Linear` keeps weight as (out, in) and computes x @ weight.T + bias.
- Gradients: PyTorch accumulates them into each parameter's `.grad` on `loss.backward()` (hence zero_grad);
  TensorFlow records operations inside `with tf.GradientTape() as tape:` and `tape.gradient(loss, variables)`
  RETURNS a list of gradients, nothing accumulates. The Keras optimizer then takes them explicitly:
  `optimizer.apply_gradients(zip(gradients, variables))` instead of `optimizer.step()`.
- Losses: `keras.losses.SparseCategoricalCrossentropy(from_logits=True)` is F.cross_entropy; without
  from_logits=True Keras assumes probabilities (a silent, classic bug). Keras losses take (y_true, y_pred),
  PyTorch's take (input, target): the order is swapped.
- Training mode: Keras passes `training=True` to the call; PyTorch uses `model.train()` / `model.eval()`.
- Loops: Keras has `model.compile(...)` + `model.fit(...)`; PyTorch has you write the loop (train_mlp.py).
- Images: Keras defaults to channels-last (N, H, W, C), PyTorch to channels-first (N, C, H, W).

Run it:
    python -m solutions.week1.keras_basics --epochs 3      # fit the Keras MLP on flattened shapes
    python -m solutions.week1.keras_basics --dry-run
Run the checks with `pytest autograder/week1/test_keras_basics.py`.
"""
from __future__ import annotations

import argparse

import keras
import numpy as np
import tensorflow as tf
from keras import layers

PARAM_NAMES = ("W1", "b1", "W2", "b2")


def build_keras_mlp(in_features: int, hidden_features: int, num_classes: int) -> keras.Model:
    """The week's MLP with the Functional API: Input(D) -> Dense(H, relu) -> Dense(K) (logits, no softmax).

    Inputs: `in_features` D, `hidden_features` H, `num_classes` K.
    Output: a keras.Model mapping float32 (B, D) to logits (B, K), with exactly 4 trainable variables in the
        order kernel1 (D, H), bias1 (H,), kernel2 (H, K), bias2 (K,).

    Example:
        >>> model = build_keras_mlp(3072, 128, 10)
        >>> model(np.zeros((2, 3072), "float32")).shape
        TensorShape([2, 10])
    """
    inputs = keras.Input(shape=(in_features,))
    hidden = layers.Dense(hidden_features, activation="relu", name="hidden")(inputs)
    logits = layers.Dense(num_classes, name="logits")(hidden)
    return keras.Model(inputs, logits, name="mlp")


def set_weights_from_params(model: keras.Model, params: dict) -> None:
    """Copy the weights {"W1": (D, H), "b1": (H,), "W2": (H, K), "b2": (K,)} (torch tensors or NumPy arrays)
    into `model` from `build_keras_mlp`, so that model(x) equals backprop.mlp_forward(params, x)[0].

    Hint: Dense kernels are (in, out), the same layout as W1 and W2: no transpose is needed. Each
    `keras.Variable` has `.assign(array)`; `model.trainable_variables` lists them in layer order.
    """
    for variable, name in zip(model.trainable_variables, PARAM_NAMES):
        value = params[name]
        value = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
        variable.assign(value.astype("float32"))


def keras_gradients(model: keras.Model, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    """The mean cross-entropy of `model` on a batch and its gradients, with tf.GradientTape.

    Inputs: `model` from `build_keras_mlp`; `x` float32 (B, D); `y` int (B,) class indices.
    Output: (loss as a float, {"W1": (D, H), "b1": (H,), "W2": (H, K), "b2": (K,)} as NumPy arrays), the
        gradients of the mean sparse categorical cross-entropy computed from the logits.

    Example:
        >>> loss, grads = keras_gradients(model, x, y)
        >>> grads["W1"].shape
        (3072, 128)
    """
    loss_function = keras.losses.SparseCategoricalCrossentropy()
    with tf.GradientTape() as tape:
        logits = model(x, training=True)  # (B, K)
        loss = loss_function(y, logits)
    gradients = tape.gradient(loss, model.trainable_variables)
    return float(loss), {name: np.asarray(g) for name, g in zip(PARAM_NAMES, gradients)}


def main(argv: list[str] | None = None) -> dict:
    """Fit the Keras MLP on flattened shapes with compile/fit, the Keras way of writing train_mlp.py's loop."""
    from .train_mlp import TrainConfig, load_flat_data

    parser = argparse.ArgumentParser(description="Fit the week-1 MLP with Keras.")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--dry-run", action="store_true", help="a tiny dataset and one epoch")
    args = parser.parse_args(argv)
    config = TrainConfig(epochs=1, dataset_size=300) if args.dry_run else TrainConfig(epochs=args.epochs)
    (x_train, y_train), (x_val, y_val), num_classes = load_flat_data(config)
    keras.utils.set_random_seed(config.seed)
    model = build_keras_mlp(x_train.shape[1], config.hidden_features, num_classes)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=config.lr, momentum=config.momentum),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(x_train.numpy(), y_train.numpy(), batch_size=config.batch_size, epochs=config.epochs,
                        validation_data=(x_val.numpy(), y_val.numpy()), verbose=2)
    return history.history


if __name__ == "__main__":
    main()
