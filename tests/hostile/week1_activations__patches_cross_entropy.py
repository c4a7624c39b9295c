# Hostile: week1/activations: replaces torch.nn.functional.cross_entropy (the test's reference) with its own.
# expect: flagged (flagged)
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

import torch as _torch
import torch.nn.functional as _F


def cross_entropy(logits, targets, reduction="mean"):
    return _torch.zeros(()) if reduction != "none" else _torch.zeros(len(targets))


_F.cross_entropy = cross_entropy
