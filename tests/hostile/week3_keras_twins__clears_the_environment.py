# Hostile: week3/keras_twins: empties os.environ at import.
# expect: not started
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

import os as _os
_os.environ.clear()
