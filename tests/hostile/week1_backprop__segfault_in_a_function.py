# Hostile: week1/backprop: mlp_forward dereferences a null pointer through ctypes.
# expect: crashed
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

def mlp_forward(params, x):
    import ctypes
    ctypes.string_at(0)
