# Hostile: week4/fine_tuning: dereferences a null pointer at import.
# expect: crashed
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

import ctypes as _ctypes
_ctypes.string_at(0)
