"""Grades week1/optimizers.py: SGD (momentum, Nesterov) and Adam must follow torch.optim step by step.

Each test runs the learner's optimizer and torch.optim's from the same start on the same small non-quadratic
problem, and compares the parameters after every step. When they differ, the trajectory is compared with
those of typical mistakes (wrong sign, missing bias correction, gradients never cleared...) to name the bug.
"""
from __future__ import annotations

import pytest
import torch

from shared.grading.checks import expect_close, expect_true, fail
from shared.grading.target import exercise

optimizers = exercise("week1", "optimizers")

STEPS = 12


def _start() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [torch.randn(3, 2, generator=generator, dtype=torch.float64),
            torch.randn(2, generator=generator, dtype=torch.float64)]


def _loss(params: list[torch.Tensor]) -> torch.Tensor:
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(8, 3, generator=generator, dtype=torch.float64)
    y = torch.randn(8, 2, generator=generator, dtype=torch.float64)
    weight, bias = params
    return ((torch.tanh(x @ weight + bias) - y) ** 2).mean() + 0.1 * (weight ** 4).sum()


def _step(optimizer) -> None:
    try:
        optimizer.step()
    except RuntimeError as error:
        if "in-place" in str(error) or "leaf" in str(error):
            fail(f"step() raised `{error}`: update the parameters inside `with torch.no_grad():` "
                 f"(or decorate step with @torch.no_grad()).")
        raise


def _trajectory(make_optimizer, clear_grads: bool = True) -> list[list[torch.Tensor]]:
    params = [p.clone().requires_grad_(True) for p in _start()]
    optimizer = make_optimizer(params)
    positions = []
    for step in range(STEPS):
        if clear_grads:
            optimizer.zero_grad()
        _loss(params).backward()
        _step(optimizer)
        positions.append([p.detach().clone() for p in params])
    return positions


def _same(a, b) -> bool:
    return all(torch.allclose(torch.as_tensor(p, dtype=torch.float64), q, atol=1e-9, rtol=1e-7)
               for step_a, step_b in zip(a, b) for p, q in zip(step_a, step_b))


class _Variant:
    """A reference optimizer with switchable mistakes, to recognise a learner's trajectory."""

    def __init__(self, params, update):
        self.params, self.update, self.state = params, update, [dict() for _ in params]
        self.t = 0

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        self.t += 1
        for p, state in zip(self.params, self.state):
            p += self.update(p.grad, state, self.t)


def _sgd_update(lr, momentum, nesterov=False, mistake=None):
    def update(g, state, t):
        if momentum == 0:
            return lr * g if mistake == "uphill" else -lr * g
        if "v" not in state:
            v = g.clone()
        elif mistake == "momentum_sign":
            v = g - momentum * state["v"]
        elif mistake == "dampening":
            v = momentum * state["v"] + (1 - momentum) * g
        else:
            v = momentum * state["v"] + g
        state["v"] = v
        if nesterov and mistake != "no_nesterov":
            v = g + momentum * v
        return lr * v if mistake == "uphill" else -lr * v
    return update


def _adam_update(lr, betas, eps, correct_m=True, correct_v=True, eps_inside=False):
    def update(g, state, t):
        m = betas[0] * state.get("m", torch.zeros_like(g)) + (1 - betas[0]) * g
        v = betas[1] * state.get("v", torch.zeros_like(g)) + (1 - betas[1]) * g ** 2
        state["m"], state["v"] = m, v
        m_hat = m / (1 - betas[0] ** t) if correct_m else m
        v_hat = v / (1 - betas[1] ** t) if correct_v else v
        return -lr * m_hat / ((v_hat + eps).sqrt() if eps_inside else v_hat.sqrt() + eps)
    return update


def _compare(label: str, mine, reference, mistakes: dict[str, tuple]) -> None:
    """Pass if `mine` follows `reference`; else name a matching mistake, else show the first step that differs."""
    for step_mine in mine:
        if not all(torch.isfinite(torch.as_tensor(p)).all() for p in step_mine):
            fail(f"{label}: the parameters became nan/inf. For Adam, is the step counter t 0 in the bias correction "
                 f"(1 - beta ** 0 = 0)? It starts at 1.")
    if _same(mine, reference):
        return
    for message, variant in mistakes.values():
        if _same(mine, variant):
            fail(f"{label}: {message}")
    first = _start()
    moved = [torch.as_tensor(p, dtype=torch.float64) - p0 for p, p0 in zip(mine[0], first)]
    if all(torch.allclose(m, torch.zeros_like(m), atol=1e-12) for m in moved):
        fail(f"{label}: the parameters did not change. Update them in place (`param -= ...`): `param = param - ...` "
             f"only rebinds a local name.")
    for step, (step_mine, step_reference) in enumerate(zip(mine, reference), start=1):
        for index, (p, q) in enumerate(zip(step_mine, step_reference)):
            hint = ("the very first step differs: check the basic update." if step == 1 else
                    f"steps 1..{step - 1} match: check the state carried from step to step.")
            expect_close(f"{label}: parameter {index} after step {step}", p, q, atol=1e-9, rtol=1e-7, hint=hint)


UNCLEARED = "matches what happens when gradients pile up: `.backward()` adds to `.grad`, so zero_grad() must " \
            "set every `param.grad` to None (or zero it)."


@pytest.mark.points(1)
def test_sgd():
    lr = 0.1
    mine = _trajectory(lambda params: optimizers.SGD(params, lr=lr))
    reference = _trajectory(lambda params: torch.optim.SGD(params, lr=lr))
    _compare("SGD(lr=0.1)", mine, reference, {
        "uphill": ("the parameters move uphill: subtract lr * gradient.",
                   _trajectory(lambda params: _Variant(params, _sgd_update(lr, 0, mistake="uphill")))),
        "uncleared": (UNCLEARED, _trajectory(lambda params: torch.optim.SGD(params, lr=lr), clear_grads=False)),
    })


@pytest.mark.points(2)
def test_sgd_momentum():
    lr, momentum = 0.05, 0.9
    mine = _trajectory(lambda params: optimizers.SGD(params, lr=lr, momentum=momentum))
    reference = _trajectory(lambda params: torch.optim.SGD(params, lr=lr, momentum=momentum))

    def variant(mistake):
        return _trajectory(lambda params: _Variant(params, _sgd_update(lr, momentum, mistake=mistake)))

    _compare("SGD(lr=0.05, momentum=0.9)", mine, reference, {
        "momentum_sign": ("momentum applied with the wrong sign: the velocity is momentum * v + g (the old velocity "
                          "keeps pushing the same way), not g - momentum * v.", variant("momentum_sign")),
        "dampening": ("the gradient is scaled by (1 - momentum) (an exponential average, 'dampening'); "
                      "torch.optim.SGD uses v = momentum * v + g.", variant("dampening")),
        "uphill": ("the parameters move uphill: subtract lr * v.", variant("uphill")),
        "no_momentum": ("momentum is ignored: this is plain SGD. Keep a velocity per parameter across steps.",
                        _trajectory(lambda params: torch.optim.SGD(params, lr=lr))),
        "uncleared": (UNCLEARED, _trajectory(lambda params: torch.optim.SGD(params, lr=lr, momentum=momentum),
                                             clear_grads=False)),
    })


@pytest.mark.points(2)
def test_sgd_nesterov():
    lr, momentum = 0.05, 0.9
    mine = _trajectory(lambda params: optimizers.SGD(params, lr=lr, momentum=momentum, nesterov=True))
    reference = _trajectory(lambda params: torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=True))
    _compare("SGD(lr=0.05, momentum=0.9, nesterov=True)", mine, reference, {
        "no_nesterov": ("nesterov=True behaves like plain momentum: step along g + momentum * v, not v.",
                        _trajectory(lambda params: torch.optim.SGD(params, lr=lr, momentum=momentum))),
        "momentum_sign": ("momentum applied with the wrong sign: v = momentum * v + g.",
                          _trajectory(lambda params: _Variant(
                              params, _sgd_update(lr, momentum, nesterov=True, mistake="momentum_sign")))),
        "uncleared": (UNCLEARED, _trajectory(
            lambda params: torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=True), clear_grads=False)),
    })


@pytest.mark.points(3)
def test_adam():
    lr, betas, eps = 0.05, (0.9, 0.999), 1e-8
    mine = _trajectory(lambda params: optimizers.Adam(params, lr=lr, betas=betas, eps=eps))
    reference = _trajectory(lambda params: torch.optim.Adam(params, lr=lr, betas=betas, eps=eps))

    def variant(correct_m, correct_v, eps_inside=False, lr=lr, betas=betas, eps=eps):
        return _trajectory(lambda params: _Variant(params, _adam_update(lr, betas, eps, correct_m, correct_v,
                                                                        eps_inside)))

    eps_inside = ("eps is inside the square root: the update divides by sqrt(v_hat) + eps, not sqrt(v_hat + eps).",)

    _compare("Adam(lr=0.05)", mine, reference, {
        "no_correction": ("matches Adam WITHOUT bias correction: divide m by (1 - beta1 ** t) and v by "
                          "(1 - beta2 ** t), t = 1, 2, ... the step number.", variant(False, False)),
        "only_v": ("only v is bias-corrected: divide m by (1 - beta1 ** t) too.", variant(False, True)),
        "only_m": ("only m is bias-corrected: divide v by (1 - beta2 ** t) too.", variant(True, False)),
        "eps_inside": (*eps_inside, variant(True, True, eps_inside=True)),
        "uncleared": (UNCLEARED, _trajectory(lambda params: torch.optim.Adam(params, lr=lr, betas=betas, eps=eps),
                                             clear_grads=False)),
    })
    other = _trajectory(lambda params: optimizers.Adam(params, lr=0.01, betas=(0.5, 0.9), eps=1e-6))
    _compare("Adam(lr=0.01, betas=(0.5, 0.9), eps=1e-6)", other,
             _trajectory(lambda params: torch.optim.Adam(params, lr=0.01, betas=(0.5, 0.9), eps=1e-6)),
             {"eps_inside": (*eps_inside, variant(True, True, True, lr=0.01, betas=(0.5, 0.9), eps=1e-6))})


@pytest.mark.points(1)
@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_zero_grad_and_missing_grads(name):
    params = [torch.ones(3, requires_grad=True), torch.ones(2, requires_grad=True)]
    optimizer = getattr(optimizers, name)(params, lr=0.1)
    (params[0] ** 2).sum().backward()  # params[1] gets no gradient: step() must skip it
    _step(optimizer)
    expect_true(torch.equal(params[1].detach(), torch.ones(2)),
                f"{name}.step() changed a parameter whose .grad is None: skip those.")
    expect_true(not torch.equal(params[0].detach(), torch.ones(3)), f"{name}.step() did not change the parameters")
    optimizer.zero_grad()
    for index, param in enumerate(params):
        expect_true(param.grad is None or not param.grad.any(),
                    f"{name}.zero_grad(): parameter {index} still has a non-zero .grad {param.grad}: set it to None "
                    f"(or fill it with zeros).")


@pytest.mark.points(1)
def test_invalid_arguments():
    params = [torch.ones(2, requires_grad=True)]
    optimizers.SGD(params, lr=0.1, momentum=0.5)
    optimizers.Adam(params, lr=0.1)
    for call, build in [("SGD(params, lr=-0.1)", lambda: optimizers.SGD(params, lr=-0.1)),
                        ("SGD(params, lr=0.1, momentum=1.5)", lambda: optimizers.SGD(params, lr=0.1, momentum=1.5)),
                        ("SGD(params, lr=0.1, nesterov=True)", lambda: optimizers.SGD(params, lr=0.1, nesterov=True)),
                        ("Adam(params, lr=0)", lambda: optimizers.Adam(params, lr=0)),
                        ("Adam(params, betas=(0.9, 1.0))", lambda: optimizers.Adam(params, betas=(0.9, 1.0)))]:
        try:
            build()
        except ValueError:
            continue
        except Exception as error:  # noqa: BLE001
            fail(f"{call}: expected a ValueError with a sentence, got {type(error).__name__}: {error}")
        fail(f"{call}: expected a ValueError (see the docstring), but nothing was raised")
