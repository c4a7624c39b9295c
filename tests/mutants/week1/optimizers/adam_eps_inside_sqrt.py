# Mutant of solutions/week1/optimizers.py: Adam divides by sqrt(v_hat + eps).
# expect: eps|square root
"""Week 1 · Exercise 4: Optimizers by hand, SGD with momentum (and Nesterov) and Adam.

What you will learn
- what `optimizer.step()` does: read each parameter's `.grad` and update the parameter in place;
- what `optimizer.zero_grad()` is for: `.backward()` ADDS to `.grad`, so stale gradients must be cleared;
- momentum as a running sum of gradients, Nesterov's look-ahead, and Adam's per-parameter step size with
  bias correction.

Both classes take a list of tensors (the parameters, typically `list(model.parameters())`) whose `.grad`
is filled by `loss.backward()` (or by you). They follow torch.optim's formulas exactly, so that your
parameter trajectory matches `torch.optim.SGD` / `torch.optim.Adam` step by step:

    for step in range(num_steps):
        optimizer.zero_grad()
        loss = compute_loss(params)
        loss.backward()
        optimizer.step()

Update the parameters in place (`param -= ...`, `param.copy_(...)`) inside `with torch.no_grad():`, so that
autograd neither records the update nor complains about modifying a leaf that requires grad.
Skip a parameter whose `.grad` is None.

Run the checks with `pytest autograder/week1/test_optimizers.py`.
"""
from __future__ import annotations

import torch


class SGD:
    """Stochastic gradient descent with optional (Nesterov) momentum, as torch.optim.SGD (no dampening).

    Inputs: `params`, a list of tensors; `lr`, the learning rate; `momentum` in [0, 1);
        `nesterov` to use Nesterov momentum (needs momentum > 0).
    Update for each parameter p with gradient g, velocity buffer v (starts as g at the first step):
        plain SGD:      p <- p - lr * g
        momentum:       v <- momentum * v + g;    p <- p - lr * v
        Nesterov:       v <- momentum * v + g;    p <- p - lr * (g + momentum * v)

    Example:
        >>> w = torch.tensor([1.0], requires_grad=True)
        >>> optimizer = SGD([w], lr=0.1, momentum=0.9)
        >>> (w ** 2).sum().backward(); optimizer.step(); w      # g = 2, v = 2: w = 1 - 0.1 * 2
        tensor([0.8000], requires_grad=True)

    Raises ValueError for lr <= 0, momentum outside [0, 1), or nesterov without momentum.
    """

    def __init__(self, params, lr: float, momentum: float = 0.0, nesterov: bool = False):
        if lr <= 0:
            raise ValueError(f"the learning rate must be positive, got {lr}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if nesterov and momentum == 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.params = list(params)
        self.lr, self.momentum, self.nesterov = lr, momentum, nesterov
        self.velocities: list[torch.Tensor | None] = [None] * len(self.params)

    def zero_grad(self) -> None:
        """Clear every parameter's gradient (set `.grad` to None, or fill it with zeros)."""
        for param in self.params:
            param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """Update every parameter that has a gradient, in place."""
        for index, param in enumerate(self.params):
            if param.grad is None:
                continue
            gradient = param.grad
            if self.momentum > 0:
                velocity = self.velocities[index]
                if velocity is None:  # first step: the velocity is the gradient itself
                    velocity = gradient.clone()
                else:
                    velocity = self.momentum * velocity + gradient
                self.velocities[index] = velocity
                gradient = gradient + self.momentum * velocity if self.nesterov else velocity
            param -= self.lr * gradient


class Adam:
    """Adam with bias correction, as torch.optim.Adam (no weight decay, no amsgrad).

    Inputs: `params`, a list of tensors; `lr`; `betas` = (beta1, beta2), the decay rates of the running
        averages; `eps`, added to the denominator for stability.
    Update at step t = 1, 2, ... for each parameter p with gradient g (m and v start at zero):
        m <- beta1 * m + (1 - beta1) * g             # running mean of gradients
        v <- beta2 * v + (1 - beta2) * g ** 2        # running mean of squared gradients
        m_hat = m / (1 - beta1 ** t);  v_hat = v / (1 - beta2 ** t)     # bias correction
        p <- p - lr * m_hat / (sqrt(v_hat) + eps)
    Why bias correction: m and v start at 0, so early on they are too small by a factor (1 - beta ** t);
    without it, the first steps are about 0.1 * lr / sqrt(0.001) ~ 3x larger or smaller than intended.

    Example:
        >>> w = torch.tensor([1.0], requires_grad=True)
        >>> optimizer = Adam([w], lr=0.1)
        >>> (w ** 2).sum().backward(); optimizer.step(); w      # the first step is lr * sign(g)
        tensor([0.9000], requires_grad=True)

    Raises ValueError for lr <= 0 or betas outside [0, 1).
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        if lr <= 0:
            raise ValueError(f"the learning rate must be positive, got {lr}")
        if not all(0 <= beta < 1 for beta in betas):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.step_count = 0
        self.first_moments = [torch.zeros_like(param) for param in self.params]
        self.second_moments = [torch.zeros_like(param) for param in self.params]

    def zero_grad(self) -> None:
        """Clear every parameter's gradient (set `.grad` to None, or fill it with zeros)."""
        for param in self.params:
            param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """Update every parameter that has a gradient, in place."""
        self.step_count += 1
        beta1, beta2 = self.betas
        correction1, correction2 = 1 - beta1 ** self.step_count, 1 - beta2 ** self.step_count
        for param, m, v in zip(self.params, self.first_moments, self.second_moments):
            if param.grad is None:
                continue
            m.mul_(beta1).add_((1 - beta1) * param.grad)
            v.mul_(beta2).add_((1 - beta2) * param.grad ** 2)
            param -= self.lr * (m / correction1) / (v / correction2 + self.eps).sqrt()
