# Hostile: week1/train_mlp: sets torch's default dtype to float64 at import.
# expect: not started
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

import torch as _torch
_torch.set_default_dtype(_torch.float64)
