# Hostile: week2/cnn: switches autograd off globally at import.
# expect: not started
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

import torch as _torch
_torch.set_grad_enabled(False)
