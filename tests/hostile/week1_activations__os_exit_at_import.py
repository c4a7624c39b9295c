# Hostile: week1/activations: calls os._exit(0) while the module is imported.
# expect: crashed
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

import os as _os
_os._exit(0)
