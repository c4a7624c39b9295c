# Hostile: week1/keras_basics: closes file descriptors 1 and 2 at import.
# expect: not started
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

import os as _os
_os.close(1)
_os.close(2)
