"""Assertions for autograder tests that fail with a sentence: what was expected, what came back, the likely bug.

They call `pytest.fail(..., pytrace=False)`, so a learner reads the message, not a page of test internals.

Every numeric check here rejects NaN and inf explicitly (a comparison with NaN is simply False, so `x > 0.5` or
`x <= y + 0.1` would let NaN through). The numpy functions they use are bound when this module is imported,
before any learner code runs; a module that replaces library functions is caught by shared/grading/guards.py.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

_asarray, _isfinite, _allclose, _abs, _argmax = np.asarray, np.isfinite, np.allclose, np.abs, np.argmax
_unravel, _float64 = np.unravel_index, np.float64


def fail(message: str) -> None:
    pytest.fail(message, pytrace=False)


def expect_true(condition: bool, message: str) -> None:
    if not condition:
        fail(message)


def _as_array(value) -> np.ndarray:
    if hasattr(value, "detach"):  # torch tensor
        value = value.detach().cpu().float().numpy() if value.dtype.is_floating_point else value.detach().cpu().numpy()
    elif hasattr(value, "numpy"):  # tf tensor
        value = value.numpy()
    elif isinstance(value, (list, tuple)) and value and all(hasattr(v, "detach") for v in value):
        value = [v.detach().cpu().float().numpy() for v in value]
    return _asarray(value)


def describe(value) -> str:
    """A short description of an array-like for messages: type, shape, dtype."""
    kind = type(value).__name__
    shape = tuple(getattr(value, "shape", np.shape(value)))
    dtype = getattr(value, "dtype", None)
    return f"{kind} of shape {shape}" + (f" and dtype {dtype}" if dtype is not None else "")


def non_finite(value) -> int:
    """How many entries of a number or array-like are NaN or inf (0 for non-numeric input)."""
    try:
        array = _as_array(value).astype(_float64)
    except (TypeError, ValueError):
        return 0
    return int(array.size - _isfinite(array).sum())


def expect_finite(name: str, value, hint: str = "") -> float | np.ndarray:
    """Fail if `value` (a number or array-like) holds NaN or inf; return it as float / array otherwise."""
    try:
        array = _as_array(value).astype(_float64)
    except (TypeError, ValueError):
        fail(f"{name}: expected a number or an array of numbers, got {type(value).__name__}: {value!r:.200}")
    bad = int(array.size - _isfinite(array).sum())
    if bad:
        fail(f"{name}: got {'NaN/inf' if array.size == 1 else f'{bad} NaN/inf values of {array.size}'} "
             f"({value!r:.120}). {hint}".strip())
    return float(array) if array.ndim == 0 else array


def expect_above(name: str, value, bound: float, message: str) -> float:
    """`value` must be a finite number > bound (NaN is not above anything)."""
    number = expect_finite(name, value)
    if not (isinstance(number, float) and number > bound):
        fail(message)
    return number


def expect_shape(name: str, value, shape: tuple) -> None:
    got = tuple(getattr(value, "shape", np.shape(value)))
    if got != tuple(shape):
        fail(f"{name}: expected shape {tuple(shape)}, got {got}")


def close(got, expected, atol: float = 1e-5, rtol: float = 1e-4) -> bool:
    """True when both are finite, of the same shape and close: for checks that recognise a typical bug."""
    try:
        got_array, expected_array = _as_array(got).astype(_float64), _as_array(expected).astype(_float64)
    except (TypeError, ValueError):
        return False
    return (got_array.shape == expected_array.shape and bool(_isfinite(got_array).all())
            and bool(_allclose(got_array, expected_array, atol=atol, rtol=rtol)))


def expect_close(name: str, got, expected, *, atol: float = 1e-5, rtol: float = 1e-4, hint: str = "") -> None:
    """Compare array-likes. The message names the quantity, both shapes, the largest error and where it is."""
    got_array, expected_array = _as_array(got), _as_array(expected)
    if got_array.shape != expected_array.shape:
        fail(f"{name}: expected shape {expected_array.shape}, got {got_array.shape}. {hint}".strip())
    try:
        got_values, expected_values = got_array.astype(_float64), expected_array.astype(_float64)
    except (TypeError, ValueError):
        fail(f"{name}: expected numbers, got {describe(got)}. {hint}".strip())
    if not _isfinite(got_values).all():
        bad = int(got_values.size - _isfinite(got_values).sum())
        fail(f"{name}: expected finite values, got {bad} non-finite (nan/inf) of {got_values.size}. {hint}".strip())
    if not _allclose(got_values, expected_values, atol=atol, rtol=rtol):
        error = _abs(got_values - expected_values)
        where = _unravel(_argmax(error), error.shape) if error.ndim else ()
        fail(
            f"{name}: max abs error {error.max():.3g} (tolerance {atol:g}) at index {tuple(int(i) for i in where)}: "
            f"expected {_number(expected_values[where])}, got {_number(got_values[where])}. {hint}".strip()
        )


def _number(value) -> str:
    value = float(value)
    return f"{value:.6g}" if math.isfinite(value) else str(value)
