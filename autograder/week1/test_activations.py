"""Grades week1/activations.py against torch.nn.functional, including logits around +-1000."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from shared.grading.checks import close, expect_close, expect_shape, fail
from shared.grading.target import exercise

activations = exercise("week1", "activations")

LARGE = 1000.0  # exp(1000) overflows float32 (and float64): only a stable formula survives it


def _inputs() -> torch.Tensor:
    x = torch.linspace(-6, 6, 25)
    return torch.cat([x[x != 0], torch.tensor([-LARGE, -30.0, 30.0, LARGE])])  # no exact 0: relu' is ambiguous there


def _derivative(function, x: torch.Tensor) -> torch.Tensor:
    leaf = x.clone().requires_grad_(True)
    function(leaf).sum().backward()
    return leaf.grad


@pytest.mark.points(1)
@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_activation(name):
    x = _inputs()
    got = getattr(activations, name)(x)
    expect_close(f"{name}(x) for x in [-1000, 1000]", got, getattr(torch, name)(x), atol=1e-6,
                 hint="" if name == "relu" else "for |x| = 1000, exp overflows: rewrite so that no inf / inf appears.")


@pytest.mark.points(1)
@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_activation_derivative(name):
    x = _inputs()
    function = getattr(activations, f"{name}_grad")
    if name == "relu":  # the boundary first: the docstring fixes the value at exactly 0
        at_zero = torch.as_tensor(function(torch.tensor([-2.0, 0.0, 3.0])))
        if close(at_zero, [0.0, 1.0, 1.0]):
            fail("relu_grad(tensor([-2., 0., 3.])) returned [0, 1, 1]: at exactly 0 the derivative is 0 (the "
                 "docstring's choice, and PyTorch's): use x > 0, not x >= 0.")
        expect_close("relu_grad(tensor([-2., 0., 3.])), 0 at exactly 0", at_zero, [0.0, 0.0, 1.0], atol=0)
    got = function(x)
    expected = _derivative(getattr(torch, name), x)
    expect_shape(f"{name}_grad(x)", got, tuple(x.shape))
    if close(got, getattr(torch, name)(x), atol=1e-6) and name != "relu":
        fail(f"{name}_grad(x) returned {name}(x) itself, not its derivative.")
    if name == "tanh" and close(got, 1 - torch.tanh(x), atol=1e-6):
        fail("tanh_grad(x): got 1 - tanh(x); the derivative is 1 - tanh(x) ** 2.")
    small = x.abs() < 10  # where the formula on the input stays finite
    on_input = {"sigmoid": x * (1 - x), "tanh": 1 - x ** 2}.get(name)
    if on_input is not None and close(torch.as_tensor(got)[small], on_input[small], atol=1e-5):
        formula = {"sigmoid": "s * (1 - s)", "tanh": "1 - t ** 2"}[name]
        fail(f"{name}_grad(x): got {formula} applied to the input x itself. That formula takes the OUTPUT of "
             f"{name}: compute it from {name}(x) first.")
    expect_close(f"{name}_grad(x), the derivative of {name}, vs autograd", got, expected, atol=1e-6)


def _expect_value_error(call: str, function, why: str) -> None:
    try:
        function()
    except ValueError:
        return
    except NotImplementedError:
        raise
    except Exception as error:  # noqa: BLE001  (any other error is the wrong one)
        fail(f"{call}: expected a ValueError ({why}), got {type(error).__name__}: {error}")
    fail(f"{call}: expected a ValueError ({why}), but nothing was raised")


def _logits() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(6, 5) * 3


@pytest.mark.points(2)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family(name):
    function, reference = getattr(activations, name), getattr(F, name)
    logits = _logits()
    expect_close(f"{name}(logits (6, 5))", function(logits), reference(logits, dim=-1), atol=1e-5)
    expect_close(f"{name}(logits (6, 5), dim=0)", function(logits, dim=0), reference(logits, dim=0), atol=1e-5,
                 hint="reduce along the `dim` you are given (keepdim=True keeps it broadcastable).")
    large = logits + torch.tensor([[LARGE], [-LARGE], [LARGE], [0.0], [0.0], [0.0]])
    large[3, 0], large[4, 1] = LARGE, -LARGE  # one huge logit among ordinary ones
    got = function(large)
    if not torch.isfinite(torch.as_tensor(got)).all():
        fail(f"{name} of logits around +-1000: got nan/inf although the answer is finite. exp(1000) overflows: "
             f"subtract the maximum along `dim` before exponentiating"
             + (" (and compute log_softmax as z - logsumexp(z), not log(softmax(z))" if name == "log_softmax" else "")
             + ".")
    expect_close(f"{name} of logits around +-1000", got, reference(large, dim=-1), atol=1e-4)


@pytest.mark.points(3)
def test_cross_entropy():
    logits, targets = _logits(), torch.tensor([0, 4, 2, 2, 1, 3])
    batch_size, num_classes = logits.shape
    mean = F.cross_entropy(logits, targets)
    got = torch.as_tensor(activations.cross_entropy(logits, targets))
    expect_shape("cross_entropy(logits, targets) (reduction 'mean')", got, ())
    if torch.isclose(got, -mean, rtol=1e-4):
        fail(f"cross_entropy: got {got.item():.4f}, the expected {mean.item():.4f} with its sign flipped. "
             f"Cross-entropy is MINUS the log-probability of the target (a loss is >= 0).")
    if torch.isclose(got, mean * batch_size, rtol=1e-4):
        fail(f"cross_entropy with reduction='mean': got {got.item():.4f} = {batch_size} x the expected "
             f"{mean.item():.4f}, the SUM over the batch. 'mean' averages over the {batch_size} examples.")
    if torch.isclose(got, mean / num_classes, rtol=1e-4):
        fail(f"cross_entropy with reduction='mean': got {got.item():.4f} = the expected {mean.item():.4f} / "
             f"{num_classes}: you averaged over all B x K entries. Pick each row's target entry, then average "
             f"over the batch only.")
    expect_close("cross_entropy(logits, targets), reduction='mean'", got, mean, atol=1e-5)
    expect_close("cross_entropy, reduction='sum'", activations.cross_entropy(logits, targets, reduction="sum"),
                 F.cross_entropy(logits, targets, reduction="sum"), atol=1e-4)
    expect_close("cross_entropy, reduction='none' (one loss per example)",
                 activations.cross_entropy(logits, targets, reduction="none"),
                 F.cross_entropy(logits, targets, reduction="none"), atol=1e-5)
    large = logits * 300  # logits up to ~ +-3000
    got = torch.as_tensor(activations.cross_entropy(large, targets, reduction="none"))
    if not torch.isfinite(got).all():
        fail("cross_entropy of logits around +-1000: got nan/inf although every loss is finite. Compute it from "
             "a stable log_softmax (z - logsumexp(z)), never as log(softmax(z)).")
    expect_close("cross_entropy of logits around +-1000, reduction='none'", got,
                 F.cross_entropy(large, targets, reduction="none"), atol=1e-2, rtol=1e-5)
    _expect_value_error("cross_entropy(..., reduction='average')",
                        lambda: activations.cross_entropy(logits, targets, reduction="average"),
                        "'average' is not one of 'mean', 'sum', 'none'")


@pytest.mark.points(1)
def test_cross_entropy_is_differentiable():
    logits, targets = _logits().requires_grad_(True), torch.tensor([0, 4, 2, 2, 1, 3])
    activations.cross_entropy(logits, targets).backward()
    got = logits.grad.clone()
    logits.grad = None
    F.cross_entropy(logits, targets).backward()
    if torch.allclose(got, logits.grad * len(targets), atol=1e-6):
        fail(f"the gradient of your cross_entropy is {len(targets)} x PyTorch's: reduction='mean' must average "
             f"over the batch, not sum.")
    expect_close("the gradient of your cross_entropy w.r.t. the logits (via autograd)", got, logits.grad, atol=1e-6,
                 hint="build it from tensor operations only (no .item(), .numpy() or torch.no_grad()).")


@pytest.mark.points(2)
def test_mse_loss():
    predictions, targets = torch.randn(4, 3), torch.randn(4, 3)
    expected = F.mse_loss(predictions, targets)
    got = torch.as_tensor(activations.mse_loss(predictions, targets))
    expect_shape("mse_loss(predictions (4, 3), targets (4, 3))", got, ())
    total = ((predictions - targets) ** 2).sum()
    if torch.isclose(got, total, rtol=1e-4):
        fail(f"mse_loss with reduction='mean': got {got.item():.4f}, the SUM of squared errors; the mean divides "
             f"by the number of elements ({predictions.numel()}).")
    if torch.isclose(got, total / len(predictions), rtol=1e-4):
        fail(f"mse_loss with reduction='mean': got {got.item():.4f} = sum / batch size; 'mean' averages over "
             f"every element (sum / {predictions.numel()}), as torch.nn.functional.mse_loss does.")
    expect_close("mse_loss, reduction='mean'", got, expected, atol=1e-6)
    expect_close("mse_loss, reduction='sum'", activations.mse_loss(predictions, targets, reduction="sum"),
                 total, atol=1e-5)
    expect_close("mse_loss, reduction='none'", activations.mse_loss(predictions, targets, reduction="none"),
                 F.mse_loss(predictions, targets, reduction="none"), atol=1e-6)
    _expect_value_error("mse_loss(predictions of shape (4, 1), targets of shape (4,))",
                        lambda: activations.mse_loss(torch.zeros(4, 1), torch.zeros(4)),
                        "the shapes differ, and broadcasting would silently build a (4, 4) error matrix")
