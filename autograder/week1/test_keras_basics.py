"""Grades week1/keras_basics.py: the MLP in Keras, and GradientTape gradients equal to PyTorch's."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from shared.grading.checks import expect_close, expect_finite, expect_true, fail
from shared.grading.target import exercise

keras_basics = exercise("week1", "keras_basics")

D, H, K, B = 5, 7, 3, 6
NAMES = ("W1", "b1", "W2", "b2")
SHAPES = {"W1": (D, H), "b1": (H,), "W2": (H, K), "b2": (K,)}


def _problem():
    generator = torch.Generator().manual_seed(0)
    params = {name: torch.randn(*shape, generator=generator) * 0.6 for name, shape in SHAPES.items()}
    x = torch.randn(B, D, generator=generator)
    y = torch.randint(0, K, (B,), generator=generator)
    return params, x, y


def _torch_logits(params, x):
    return torch.relu(x @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"]


@pytest.mark.points(1)
def test_build_keras_mlp():
    model = keras_basics.build_keras_mlp(D, H, K)
    outputs = np.asarray(model(np.random.default_rng(0).normal(size=(B, D)).astype("float32")))
    expect_true(outputs.shape == (B, K), f"build_keras_mlp({D}, {H}, {K}): expected outputs of shape {(B, K)} for "
                                         f"a batch of {B}, got {outputs.shape}")
    shapes = [tuple(v.shape) for v in model.trainable_variables]
    expect_true(shapes == [SHAPES[name] for name in NAMES],
                f"build_keras_mlp: expected trainable variables of shapes {[SHAPES[n] for n in NAMES]} "
                f"(kernel1, bias1, kernel2, bias2), got {shapes}")
    if np.all(outputs >= 0) and np.allclose(outputs.sum(axis=1), 1, atol=1e-5):
        fail("build_keras_mlp: the outputs are probabilities. Return logits (no softmax on the last Dense): the "
             "loss takes from_logits=True.")


def _set_weights(model, params) -> None:
    try:
        keras_basics.set_weights_from_params(model, params)
    except (ValueError, TypeError) as error:
        if "shape" in str(error).lower():
            fail(f"set_weights_from_params raised `{str(error)[:200]}`: a Keras Dense kernel is (in, out), the same "
                 f"layout as W1 (D, H) and W2 (H, K): copy them as they are, no transpose (that is PyTorch's "
                 f"nn.Linear, whose weight is (out, in)).")
        raise


@pytest.mark.points(1)
def test_set_weights_from_params():
    params, x, _ = _problem()
    model = keras_basics.build_keras_mlp(D, H, K)
    _set_weights(model, params)
    expect_close("model(x) after set_weights_from_params, vs the PyTorch MLP with the same weights",
                 np.asarray(model(x.numpy())), _torch_logits(params, x), atol=1e-5,
                 hint="Dense kernels are (in, out), like W1 and W2: no transpose.")


@pytest.mark.points(3)
def test_gradients_match_pytorch():
    params, x, y = _problem()
    model = keras_basics.build_keras_mlp(D, H, K)
    _set_weights(model, params)
    loss, grads = keras_basics.keras_gradients(model, x.numpy(), y.numpy())
    leaves = {name: value.clone().requires_grad_(True) for name, value in params.items()}
    expected_loss = F.cross_entropy(_torch_logits(leaves, x), y)
    expected_loss.backward()
    loss = expect_finite("loss from keras_gradients", loss)
    if np.isclose(loss, B * expected_loss.item(), rtol=1e-4):
        fail(f"keras_gradients: loss {loss:.4f} is {B} x PyTorch's {expected_loss.item():.4f}: the sum over the batch, "
             f"not the mean.")
    expect_close("loss from keras_gradients vs F.cross_entropy on the same weights and batch", loss,
                 expected_loss.item(), atol=1e-5,
                 hint="the model outputs logits: use SparseCategoricalCrossentropy(from_logits=True).")
    expect_true(isinstance(grads, dict) and set(grads) >= set(NAMES),
                f"keras_gradients: expected a dict with keys {list(NAMES)}, got "
                f"{sorted(grads) if isinstance(grads, dict) else type(grads).__name__}")
    for name in NAMES:
        got = np.asarray(grads[name])
        if got.shape != SHAPES[name] and got.shape == SHAPES[name][::-1]:
            fail(f"keras_gradients: gradient of {name} has shape {got.shape}, expected {SHAPES[name]}: looks "
                 f"transposed (Keras kernels are (in, out)).")
        expect_close(f"tf.GradientTape gradient of {name} vs PyTorch autograd", got, leaves[name].grad, atol=1e-5)
