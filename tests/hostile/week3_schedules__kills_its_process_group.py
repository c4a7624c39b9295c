# Hostile: week3/schedules: kills its own process group at import.
# expect: crashed
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

import os as _os
import signal as _signal

_os.killpg(0, _signal.SIGKILL)
