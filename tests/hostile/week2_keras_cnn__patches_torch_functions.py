# Hostile: week2/keras_cnn: replaces torch.nn.functional.relu and torch.equal.
# expect: flagged (flagged)
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

import torch as _torch
import torch.nn.functional as _F

_F.relu = lambda x, inplace=False: x
_torch.equal = lambda a, b: True
