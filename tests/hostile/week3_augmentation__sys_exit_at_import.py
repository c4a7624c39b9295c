# Hostile: week3/augmentation: calls sys.exit(0) at import.
# expect: failing
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

import sys as _sys
_sys.exit(0)
