# Mutant of solutions/week1/backprop.py: dlogits = one_hot - softmax.
# expect: sign
"""Week 1 · Exercise 3: Forward and backward propagation by hand, for a 2-layer MLP.

What you will learn
- what `loss.backward()` computes: the gradient of the loss with respect to every parameter, by the chain rule;
- why the bias gradient is a sum over the batch, and why a weight gradient has the weight's shape;
- how to check a hand-written gradient, against autograd and against finite differences.

The network, for a batch x of shape (B, D), hidden width H and K classes:

    z1 = x @ W1 + b1          # (B, H)    W1: (D, H), b1: (H,)
    a1 = relu(z1)             # (B, H)
    logits = a1 @ W2 + b2     # (B, K)    W2: (H, K), b2: (K,)
    loss = cross_entropy(logits, targets)   # the MEAN over the batch, a scalar

(nn.Linear stores its weight transposed, as (out, in), and computes x @ weight.T + bias. Here the weights
are stored as (in, out) so that the formulas read left to right; train_mlp.py converts between the two.)

Parameters are a dict {"W1": ..., "b1": ..., "W2": ..., "b2": ...}; gradients are a dict with the same
keys and the same shapes. The forward and backward passes use plain tensor operations, no autograd:
no `requires_grad`, no `.backward()`. Only `autograd_gradients` uses autograd, to check your work.
You can use your own relu, relu_grad, softmax and cross_entropy from activations.py (imported below).

Run the checks with `pytest autograder/week1/test_backprop.py`.
"""
from __future__ import annotations

from typing import Callable

import torch

from .activations import cross_entropy, relu, relu_grad, softmax

PARAM_NAMES = ("W1", "b1", "W2", "b2")
Params = dict[str, torch.Tensor]


def init_mlp(in_features: int, hidden_features: int, out_features: int, seed: int = 0,
             dtype: torch.dtype = torch.float32) -> Params:
    """Given to you: He-initialised parameters {"W1": (D, H), "b1": (H,), "W2": (H, K), "b2": (K,)}.

    He initialisation (std = sqrt(2 / fan_in)) keeps the variance of the activations roughly constant
    through ReLU layers; the biases start at zero.
    """
    generator = torch.Generator().manual_seed(seed)
    return {
        "W1": torch.randn(in_features, hidden_features, generator=generator, dtype=dtype) * (2 / in_features) ** 0.5,
        "b1": torch.zeros(hidden_features, dtype=dtype),
        "W2": torch.randn(hidden_features, out_features, generator=generator, dtype=dtype)
        * (2 / hidden_features) ** 0.5,
        "b2": torch.zeros(out_features, dtype=dtype),
    }


def mlp_forward(params: Params, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The forward pass: logits for a batch, and a cache of what the backward pass will need.

    Inputs: `params` as from `init_mlp`; `x` float (B, D).
    Output: (logits, cache). `logits` float (B, K). `cache` is a dict of your choice, typically the input,
        the pre-activation z1 and the activation a1 (and the logits): the backward pass reads it.

    Example:
        >>> params = init_mlp(4, 8, 3)
        >>> logits, cache = mlp_forward(params, torch.randn(5, 4))
        >>> logits.shape
        torch.Size([5, 3])
    """
    z1 = x @ params["W1"] + params["b1"]  # (B, H)
    a1 = relu(z1)  # (B, H)
    logits = a1 @ params["W2"] + params["b2"]  # (B, K)
    return logits, {"x": x, "z1": z1, "a1": a1, "logits": logits}


def mlp_loss(params: Params, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Given to you: the mean cross-entropy of the MLP on a batch, a scalar tensor."""
    logits, _ = mlp_forward(params, x)
    return cross_entropy(logits, targets)


def mlp_backward(params: Params, cache: dict[str, torch.Tensor], targets: torch.Tensor) -> Params:
    """The backward pass: the gradient of the MEAN cross-entropy with respect to every parameter.

    Inputs: `params`; `cache` from `mlp_forward`; `targets` int64 (B,).
    Output: {"W1": (D, H), "b1": (H,), "W2": (H, K), "b2": (K,)}: each gradient has its parameter's shape,
        for any batch size B, and equals what autograd would put in `.grad` after `loss.backward()`.

    Example:
        >>> logits, cache = mlp_forward(params, x)
        >>> grads = mlp_backward(params, cache, targets)
        >>> grads["W1"].shape == params["W1"].shape
        True

    The chain rule, from the loss back:
        dlogits = (softmax(logits) - one_hot(targets)) / B     # (B, K); the 1 / B comes from the mean
        dW2 = a1.T @ dlogits;  db2 = dlogits summed over the batch
        da1 = dlogits @ W2.T;  dz1 = da1 * relu_grad(z1)
        dW1 = x.T @ dz1;       db1 = dz1 summed over the batch
    Why a sum for the bias: b is added to every row of the batch, so each row contributes to its gradient.
    """
    x, z1, a1, logits = cache["x"], cache["z1"], cache["a1"], cache["logits"]
    batch_size = x.shape[0]
    rows = torch.arange(batch_size, device=logits.device)
    dlogits = softmax(logits, dim=-1).clone()  # (B, K)
    dlogits[rows, targets] -= 1
    dlogits = -dlogits / batch_size
    da1 = dlogits @ params["W2"].T  # (B, H)
    dz1 = da1 * relu_grad(z1)  # (B, H)
    return {
        "W1": x.T @ dz1,  # (D, H)
        "b1": dz1.sum(dim=0),  # (H,)
        "W2": a1.T @ dlogits,  # (H, K)
        "b2": dlogits.sum(dim=0),  # (K,)
    }


# ---- checking gradients ---------------------------------------------------------------------------------------

def relative_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    """Given to you: max |got - expected| divided by the largest magnitude of either (0 when both are 0)."""
    scale = max(got.abs().max().item(), expected.abs().max().item(), 1e-12)
    return (got - expected).abs().max().item() / scale


def autograd_gradients(params: Params, x: torch.Tensor, targets: torch.Tensor) -> Params:
    """The gradients of `mlp_loss` computed by autograd, the reference for your `mlp_backward`.

    Inputs: as for `mlp_loss`. `params` must not be modified (not even their `.grad`).
    Output: {name: gradient}, same keys and shapes as `params`, tensors that do not require grad.

    Hint: make leaf copies `p.detach().clone().requires_grad_(True)`, compute the loss with them,
    call `.backward()` and read each copy's `.grad`.
    """
    leaves = {name: value.detach().clone().requires_grad_(True) for name, value in params.items()}
    mlp_loss(leaves, x, targets).backward()
    return {name: leaf.grad.detach() for name, leaf in leaves.items()}


def numerical_gradient(function: Callable[[torch.Tensor], torch.Tensor], tensor: torch.Tensor,
                       eps: float = 1e-6) -> torch.Tensor:
    """Central finite differences: the gradient of a scalar `function` at `tensor`, one element at a time.

    Inputs: `function` maps a tensor shaped like `tensor` to a scalar (float or 0-d tensor);
        `tensor` float, any shape (use float64: in float32 the rounding error swamps eps = 1e-6);
        `eps`, the step.
    Output: a tensor shaped like `tensor`, element i = (f(t + eps e_i) - f(t - eps e_i)) / (2 eps),
        where e_i is 1 at position i and 0 elsewhere. `tensor` itself is left unchanged.

    Example:
        >>> numerical_gradient(lambda t: (t ** 2).sum(), torch.tensor([1.0, -3.0], dtype=torch.float64))
        tensor([ 2., -6.], dtype=torch.float64)
    """
    point = tensor.detach().clone()
    gradient = torch.zeros_like(point)
    flat_point, flat_gradient = point.view(-1), gradient.view(-1)  # views: writing them writes point/gradient
    for index in range(flat_point.numel()):
        original = flat_point[index].item()
        flat_point[index] = original + eps
        above = float(function(point))
        flat_point[index] = original - eps
        below = float(function(point))
        flat_point[index] = original
        flat_gradient[index] = (above - below) / (2 * eps)
    return gradient


def check_against_autograd(params: Params, x: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """Gradient check 1: {name: relative_error(your mlp_backward gradient, autograd's gradient)}.

    Inputs: as for `mlp_loss`. Output: one float per parameter name; below ~1e-6 (float64) means they agree.
    Example: check_against_autograd(params, x, targets) -> {"W1": 3e-16, "b1": 0.0, "W2": 2e-16, "b2": 1e-16}
    """
    _, cache = mlp_forward(params, x)
    mine = mlp_backward(params, cache, targets)
    reference = autograd_gradients(params, x, targets)
    return {name: relative_error(mine[name], reference[name]) for name in params}


def check_against_finite_differences(params: Params, x: torch.Tensor, targets: torch.Tensor,
                                     eps: float = 1e-6) -> dict[str, float]:
    """Gradient check 2: {name: relative_error(your mlp_backward gradient, numerical_gradient of mlp_loss)}.

    Inputs: as for `mlp_loss`, plus the finite-difference step `eps`. Work in float64 (convert params and x)
        so that the check itself is accurate. Output: one float per parameter name; below ~1e-5 means they agree.
    Example: check_against_finite_differences(params, x, targets) -> {"W1": 4e-10, "b1": 2e-10, ...}

    Hint: for the parameter `name`, differentiate `lambda value: mlp_loss({**params, name: value}, x, targets)`.
    """
    params = {name: value.detach().double() for name, value in params.items()}
    x = x.double()
    _, cache = mlp_forward(params, x)
    mine = mlp_backward(params, cache, targets)
    errors = {}
    for name in params:
        def loss_of(value, name=name):
            return mlp_loss({**params, name: value}, x, targets)

        errors[name] = relative_error(mine[name], numerical_gradient(loss_of, params[name], eps))
    return errors
