"""Assertions for autograder tests that fail with a sentence: what was expected, what came back, the likely bug.

They call `pytest.fail(..., pytrace=False)`, so a learner reads the message, not a page of test internals.
"""
from __future__ import annotations

import numpy as np
import pytest


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
    return np.asarray(value)


def describe(value) -> str:
    """A short description of an array-like for messages: type, shape, dtype."""
    kind = type(value).__name__
    shape = tuple(getattr(value, "shape", np.shape(value)))
    dtype = getattr(value, "dtype", None)
    return f"{kind} of shape {shape}" + (f" and dtype {dtype}" if dtype is not None else "")


def expect_shape(name: str, value, shape: tuple) -> None:
    got = tuple(getattr(value, "shape", np.shape(value)))
    if got != tuple(shape):
        fail(f"{name}: expected shape {tuple(shape)}, got {got}")


def expect_close(name: str, got, expected, *, atol: float = 1e-5, rtol: float = 1e-4, hint: str = "") -> None:
    """Compare array-likes. The message names the quantity, both shapes, the largest error and where it is."""
    got_array, expected_array = _as_array(got), _as_array(expected)
    if got_array.shape != expected_array.shape:
        fail(f"{name}: expected shape {expected_array.shape}, got {got_array.shape}. {hint}".strip())
    if not np.all(np.isfinite(got_array)) and np.all(np.isfinite(expected_array)):
        fail(f"{name}: expected finite values, got {np.size(got_array) - np.isfinite(got_array).sum()} "
             f"non-finite (nan/inf) of {got_array.size}. {hint}".strip())
    if not np.allclose(got_array, expected_array, atol=atol, rtol=rtol):
        error = np.abs(got_array.astype(np.float64) - expected_array.astype(np.float64))
        where = np.unravel_index(np.argmax(error), error.shape) if error.ndim else ()
        fail(
            f"{name}: max abs error {error.max():.3g} (tolerance {atol:g}) at index {tuple(int(i) for i in where)}: "
            f"expected {expected_array[where]!r}, got {got_array[where]!r}. {hint}".strip()
        )
