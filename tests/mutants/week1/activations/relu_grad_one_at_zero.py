# Mutant of solutions/week1/activations.py: relu_grad gives 1 at exactly 0 (x >= 0).
# expect: relu_grad|exactly 0
"""Week 1 · Exercise 2: Activation functions, softmax and losses, written with plain tensor operations.

What you will learn
- ReLU, sigmoid and tanh, and their derivatives (you need those for the backward pass in backprop.py);
- why the textbook softmax overflows for large logits and how subtracting the maximum fixes it;
- log-softmax and cross-entropy computed from logits, stable for logits around +-1000;
- mean squared error, and what the `reduction` argument ("mean", "sum", "none") means.

Use torch's elementary operations (exp, log, max, sum, clamp, where, ...), not torch.nn.functional:
the autograder compares your functions with torch.nn.functional. The derivatives are elementwise
and returned as a tensor of the input's shape.

Run the checks with `pytest autograder/week1/test_activations.py`.
"""
from __future__ import annotations

import torch

REDUCTIONS = ("mean", "sum", "none")


# ---- activations and their derivatives -------------------------------------------------------------------------

def relu(x: torch.Tensor) -> torch.Tensor:
    """max(x, 0) elementwise. Input any shape; output the same shape and dtype.

    Example: relu(torch.tensor([-2., 0., 3.])) -> tensor([0., 0., 3.])
    """
    return torch.clamp(x, min=0)


def relu_grad(x: torch.Tensor) -> torch.Tensor:
    """d relu(x) / dx elementwise: 1 where x > 0, else 0 (at exactly 0 we use 0, as PyTorch does).

    Example: relu_grad(torch.tensor([-2., 0., 3.])) -> tensor([0., 0., 1.])
    """
    return (x >= 0).to(x.dtype)


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """1 / (1 + exp(-x)) elementwise; must return 0 or 1 (not nan) for x = -1000 or +1000.

    Example: sigmoid(torch.tensor([0.])) -> tensor([0.5000])
    """
    # exp(-x) overflows to inf for x << 0, and 1 / (1 + inf) = 0 is still right; no nan can appear.
    return 1.0 / (1.0 + torch.exp(-x))


def sigmoid_grad(x: torch.Tensor) -> torch.Tensor:
    """d sigmoid(x) / dx = sigmoid(x) * (1 - sigmoid(x)), elementwise.

    Example: sigmoid_grad(torch.tensor([0.])) -> tensor([0.2500])
    """
    s = sigmoid(x)
    return s * (1 - s)


def tanh(x: torch.Tensor) -> torch.Tensor:
    """(exp(x) - exp(-x)) / (exp(x) + exp(-x)) elementwise; must give -1 or 1 (not nan) for x = -+1000.

    Example: tanh(torch.tensor([0.])) -> tensor([0.])
    Hint: tanh(x) = 2 * sigmoid(2x) - 1 avoids inf / inf.
    """
    return 2.0 * sigmoid(2.0 * x) - 1.0


def tanh_grad(x: torch.Tensor) -> torch.Tensor:
    """d tanh(x) / dx = 1 - tanh(x) ** 2, elementwise.

    Example: tanh_grad(torch.tensor([0.])) -> tensor([1.])
    """
    return 1.0 - tanh(x) ** 2


# ---- softmax and cross-entropy ----------------------------------------------------------------------------------

def softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """exp(logits) / sum(exp(logits)) along `dim`, numerically stable.

    Inputs: `logits`, float of any shape, e.g. (B, K) scores for K classes; `dim`, the class dimension.
    Output: same shape; non-negative, sums to 1 along `dim`.

    Example:
        >>> softmax(torch.tensor([[1000., 1000.]]))      # the naive formula gives inf / inf = nan
        tensor([[0.5000, 0.5000]])

    Hint: softmax(z) == softmax(z - c) for any constant c. Choose c = the maximum along `dim`
    (keepdim=True), then the largest exponent is exp(0) = 1 and nothing overflows.
    """
    shifted = logits - logits.max(dim=dim, keepdim=True).values
    exponentials = torch.exp(shifted)
    return exponentials / exponentials.sum(dim=dim, keepdim=True)


def log_softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log(softmax(logits)) along `dim`, computed without taking the log of a (possibly 0) probability.

    Inputs/outputs as for `softmax`; every value is <= 0.

    Example:
        >>> log_softmax(torch.tensor([[0., 1000.]]))     # log(softmax) would give log(0) = -inf
        tensor([[-1000.,     0.]])

    Hint: log_softmax(z) = z - logsumexp(z), and logsumexp(z) = m + log(sum(exp(z - m))) with m the maximum.
    """
    maximum = logits.max(dim=dim, keepdim=True).values
    log_sum_exp = maximum + torch.log(torch.exp(logits - maximum).sum(dim=dim, keepdim=True))
    return logits - log_sum_exp


def reduce_loss(values: torch.Tensor, reduction: str) -> torch.Tensor:
    """Given to you: apply a loss reduction. "mean" and "sum" give a scalar, "none" returns `values` unchanged."""
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    if reduction == "none":
        return values
    raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of class scores against integer labels: -log softmax(logits)[i, targets[i]].

    Inputs: `logits` float (B, K), raw scores (no softmax applied); `targets` int64 (B,) in [0, K);
        `reduction` "mean" (average over the batch, the default), "sum" or "none".
    Output: a scalar tensor for "mean"/"sum", shape (B,) for "none".
        Same values as torch.nn.functional.cross_entropy, also for logits around +-1000.

    Example:
        >>> cross_entropy(torch.tensor([[0., 0.], [0., 1000.]]), torch.tensor([0, 0]), reduction="none")
        tensor([   0.6931, 1000.0000])

    Raises ValueError for an unknown `reduction` (`reduce_loss` above does the reduction and raises it).
    Hint: take each row's target entry of log_softmax (as in tensors.pick_scores) and negate it.
    """
    log_probabilities = log_softmax(logits, dim=-1)  # (B, K)
    rows = torch.arange(logits.shape[0], device=logits.device)
    per_example = -log_probabilities[rows, targets]  # (B,)
    return reduce_loss(per_example, reduction)


def mse_loss(predictions: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Mean squared error: (predictions - targets) ** 2, averaged over ALL elements for "mean".

    Inputs: `predictions`, `targets` float tensors of the same shape, e.g. (B, D);
        `reduction` "mean" (over every element, as torch.nn.functional.mse_loss), "sum" or "none".
    Output: a scalar tensor for "mean"/"sum"; the elementwise squared errors (same shape) for "none".

    Example:
        >>> mse_loss(torch.tensor([[1., 2.], [3., 4.]]), torch.zeros(2, 2))
        tensor(7.5000)

    Raises ValueError if the shapes differ (broadcasting (B, 1) against (B,) silently gives a (B, B) error
    matrix, a classic bug) or for an unknown `reduction` (use `reduce_loss`).
    """
    if predictions.shape != targets.shape:
        raise ValueError(f"predictions have shape {tuple(predictions.shape)} but targets have shape "
                         f"{tuple(targets.shape)}; they must match")
    return reduce_loss((predictions - targets) ** 2, reduction)
