# Hostile: week1/tensors: makes numpy.allclose and torch.allclose always True.
# expect: flagged (flagged)
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

import numpy as _np
import torch as _torch

_np.allclose = lambda *args, **kwargs: True
_torch.allclose = lambda *args, **kwargs: True


def make_grid(rows, cols):
    return _torch.zeros(rows, cols)
