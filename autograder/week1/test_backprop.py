"""Grades week1/backprop.py: the hand-written forward and backward pass of a 2-layer MLP, and gradient checks.

The references here use autograd on the network described in the exercise's docstring. Sizes are all
different (D=5, H=7, K=3) so that a transposed gradient cannot hide behind a square shape.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from shared.grading.checks import close, expect_close, expect_shape, expect_true, fail
from shared.grading.target import exercise

backprop = exercise("week1", "backprop")

D, H, K = 5, 7, 3
NAMES = ("W1", "b1", "W2", "b2")


def _problem(batch_size: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    params = {
        "W1": torch.randn(D, H, generator=generator, dtype=torch.float64) * 0.7,
        "b1": torch.randn(H, generator=generator, dtype=torch.float64) * 0.3,
        "W2": torch.randn(H, K, generator=generator, dtype=torch.float64) * 0.7,
        "b2": torch.randn(K, generator=generator, dtype=torch.float64) * 0.3,
    }
    x = torch.randn(batch_size, D, generator=generator, dtype=torch.float64)
    y = torch.randint(0, K, (batch_size,), generator=generator)
    return params, x, y


def _reference_logits(params, x):
    return torch.relu(x @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"]


def _reference_gradients(params, x, y):
    leaves = {name: value.detach().clone().requires_grad_(True) for name, value in params.items()}
    F.cross_entropy(_reference_logits(leaves, x), y).backward()
    return {name: leaf.grad for name, leaf in leaves.items()}


def _hand_gradients(params, x, y):
    """Run the learner's forward and backward with autograd off, as the exercise asks."""
    with torch.no_grad():
        try:
            _, cache = backprop.mlp_forward(params, x)
            grads = backprop.mlp_backward(params, cache, y)
        except RuntimeError as error:
            if "grad" in str(error):
                fail(f"mlp_backward raised `{error}` with autograd off: compute the gradients by hand with the "
                     f"chain rule, without requires_grad or .backward().")
            raise
    expect_true(isinstance(grads, dict) and set(NAMES) <= set(grads),
                f"mlp_backward: expected a dict with keys {list(NAMES)}, got "
                f"{sorted(grads) if isinstance(grads, dict) else type(grads).__name__}")
    return grads


def _diagnose(name: str, got, expected: torch.Tensor, batch_size: int) -> None:
    """Fail with the likely bug when a gradient is off in one of the typical ways."""
    label = f"gradient of {name} (batch size {batch_size})"
    got_shape, shape = tuple(got.shape), tuple(expected.shape)
    if got_shape != shape:
        if len(shape) == 2 and got_shape == shape[::-1]:
            fail(f"{label}: expected shape {shape}, got {got_shape}: looks transposed. A weight's gradient has "
                 f"the weight's shape (in, out): compute it as (layer input).T @ (gradient at the output).")
        if got_shape == (batch_size, *shape):
            fail(f"{label}: expected shape {shape}, got {got_shape}: one row per example. The bias is shared by "
                 f"the whole batch, so its gradient is summed over the batch (dim 0).")
        fail(f"{label}: expected shape {shape}, got {got_shape}.")
    got = torch.as_tensor(got, dtype=torch.float64)
    if torch.allclose(got, expected, atol=1e-8, rtol=1e-6):
        return
    if batch_size > 1 and torch.allclose(got, expected * batch_size, rtol=1e-6, atol=1e-8):
        fail(f"{label}: {batch_size} x too large (batch size {batch_size}). The loss is the MEAN over the batch: "
             f"divide the gradient of the logits by B. Sum and mean are mixed up.")
    if batch_size > 1 and torch.allclose(got, expected / batch_size, rtol=1e-6, atol=1e-8):
        fail(f"{label}: {batch_size} x too small (batch size {batch_size}). The 1/B of the mean is already in "
             f"dlogits: sum (not average) over the batch, and divide by B only once.")
    if torch.allclose(got, -expected, atol=1e-8, rtol=1e-6):
        fail(f"{label}: the sign is flipped. d loss / d logits = softmax(logits) - one_hot(targets), not the reverse.")
    expect_close(label, got, expected, atol=1e-8, rtol=1e-6)


@pytest.mark.points(2)
def test_forward():
    for batch_size in (4, 1):
        params, x, y = _problem(batch_size)
        logits, cache = backprop.mlp_forward(params, x)
        expect_shape(f"logits of mlp_forward for a batch of {batch_size}", logits, (batch_size, K))
        expect_true(isinstance(cache, dict), f"mlp_forward: expected (logits, cache dict), got a cache of type "
                                             f"{type(cache).__name__}")
        expect_close(f"logits of mlp_forward (batch size {batch_size})", logits, _reference_logits(params, x),
                     atol=1e-10, hint="z1 = x @ W1 + b1, a1 = relu(z1), logits = a1 @ W2 + b2.")


@pytest.mark.points(2)
@pytest.mark.parametrize("name", NAMES)
def test_backward(name):
    for batch_size in (13, 1):  # 13 first: it tells a missing batch sum or a wrong 1/B apart
        params, x, y = _problem(batch_size, seed=batch_size)
        grads = _hand_gradients(params, x, y)
        _diagnose(name, grads[name], _reference_gradients(params, x, y)[name], batch_size)


@pytest.mark.points(1)
def test_autograd_gradients():
    params, x, y = _problem(6)
    expected = _reference_gradients(params, x, y)
    grads = backprop.autograd_gradients(params, x, y)
    for name in NAMES:  # first what was done to the inputs: it also spoils the comparison below
        expect_true(params[name].grad is None and not params[name].requires_grad,
                    f"autograd_gradients changed params['{name}'] (requires_grad or .grad): work on leaf copies, "
                    f"p.detach().clone().requires_grad_(True), and leave the caller's tensors alone")
    expect_true(isinstance(grads, dict) and set(NAMES) <= set(grads),
                f"autograd_gradients: expected a dict with keys {list(NAMES)}, got "
                f"{sorted(grads) if isinstance(grads, dict) else type(grads).__name__}")
    for name in NAMES:
        expect_close(f"autograd_gradients()['{name}']", grads[name], expected[name], atol=1e-10)


def _never_restored(function, point: torch.Tensor, eps: float) -> torch.Tensor:
    """Central differences where each element is left at t - eps after its turn (a typical bug)."""
    moved, gradient = point.clone().reshape(-1), torch.zeros(point.numel(), dtype=point.dtype)
    for index in range(moved.numel()):
        original = moved[index].item()
        moved[index] = original + eps
        above = float(function(moved.reshape(point.shape)))
        moved[index] = original - eps
        gradient[index] = (above - float(function(moved.reshape(point.shape)))) / (2 * eps)
    return gradient.reshape(point.shape)


@pytest.mark.points(2)
def test_numerical_gradient():
    point = torch.tensor([[0.3, -1.2, 2.0], [0.7, 1.5, -0.4]], dtype=torch.float64)
    original = point.clone()

    def function(t):  # the last term couples the elements: a point left moved changes the next derivatives
        return (torch.sin(t) * t ** 2).sum() + 0.5 * t.sum() ** 2

    exact = torch.cos(point) * point ** 2 + 2 * point * torch.sin(point) + point.sum()
    eps = 1e-3  # large enough that a one-sided difference (error ~ eps) is told from a central one (~ eps ** 2)
    got = backprop.numerical_gradient(function, point, eps=eps)
    expect_true(torch.equal(point, original), "numerical_gradient modified the tensor it was given: perturb a copy, "
                                              "or put every element back after each evaluation.")
    expect_shape("numerical_gradient of f(t) = sum(sin(t) t^2) + (sum t)^2 / 2 at a (2, 3) tensor", got, (2, 3))
    got = torch.as_tensor(got, dtype=torch.float64)
    forward = torch.stack([(function(point + eps * e) - function(point)) / eps
                           for e in torch.eye(6, dtype=torch.float64).reshape(6, 2, 3)]).reshape(2, 3)
    if close(got, forward, atol=1e-8):
        fail("numerical_gradient: this is the one-sided difference (f(t + eps) - f(t)) / eps; use the central "
             "difference (f(t + eps) - f(t - eps)) / (2 eps), which is far more accurate.")
    if close(got, 2 * exact, atol=1e-5):
        fail("numerical_gradient: twice the true gradient: divide the central difference by 2 * eps, not eps.")
    if close(got, _never_restored(function, point, eps), atol=1e-8) and not close(got, exact, atol=1e-5):
        fail("numerical_gradient: each element was left perturbed (at t - eps) after its turn, so every later "
             "derivative was measured at a moved point. Put each element back to its original value after its two "
             "evaluations.")
    expect_close("numerical_gradient of f(t) = sum(sin(t) t^2) + (sum t)^2 / 2, eps=1e-3", got, exact, atol=1e-5)


def _reference_forward(params, x):
    return _reference_logits(params, x), {"x": x}


def _reference_backward(scale: float = 1.0):
    """A correct backward pass (scale 1) or one whose W2 gradient is `scale` x too large, for any cache of ours."""
    def backward(params, cache, targets):
        with torch.enable_grad():
            grads = _reference_gradients({name: value.detach() for name, value in params.items()},
                                         cache["x"].detach(), targets)
        grads["W2"] = grads["W2"] * scale
        return grads
    return backward


@pytest.mark.points(1)
@pytest.mark.parametrize("check", ["check_against_autograd", "check_against_finite_differences"])
def test_gradient_check(check, monkeypatch):
    params, x, y = _problem(5)
    params = {name: value.float() for name, value in params.items()}  # the check must cope with float32 input
    x = x.float()
    # With a forward and backward pass of ours, so that this test grades the check alone (test_backward grades
    # yours): first a correct backward (the check must report agreement), then a wrong W2 gradient (it must notice).
    module = backprop.module()
    monkeypatch.setattr(module, "mlp_forward", _reference_forward)
    monkeypatch.setattr(module, "mlp_backward", _reference_backward())
    before = ({name: value.clone() for name, value in params.items()}, x.clone())
    errors = getattr(backprop, check)(params, x, y)
    changed = [name for name in NAMES if not torch.equal(params[name], before[0][name])]
    changed += ["x"] if not torch.equal(x, before[1]) else []
    expect_true(not changed, f"{check} changed {', '.join(changed)}: a gradient check must leave the parameters as "
                             f"it found them (perturb a copy, or put every element back after measuring it).")
    expect_true(isinstance(errors, dict) and set(errors) == set(NAMES),
                f"{check}: expected a dict with keys {list(NAMES)}, got {errors!r}")
    tolerance = 1e-5
    for name in NAMES:
        expect_true(float(errors[name]) < tolerance,
                    f"{check}: relative error {float(errors[name]):.3g} for {name} with a correct mlp_backward "
                    f"(expected < {tolerance:g})"
                    + (". Convert params and x to float64 first." if "finite" in check else "."))
    monkeypatch.setattr(module, "mlp_backward", _reference_backward(scale=1.5))
    errors = getattr(backprop, check)(params, x, y)
    expect_true(float(errors["W2"]) > 0.1,
                f"{check}: reported a relative error of {float(errors['W2']):.3g} for W2 when mlp_backward's W2 "
                f"gradient is 1.5 x too large: the check must call mlp_backward and compare with the reference.")
