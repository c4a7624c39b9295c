# Hostile: week3/checkpoint: chdir to / and clears sys.path at import.
# expect: not started
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

import os as _os
import sys as _sys

_os.chdir('/')
_sys.path.clear()
