# Hostile: week2/cnn: starts a non-daemon thread that sleeps for ten minutes.
# expect: not started
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

import threading as _threading
import time as _time

_threading.Thread(target=_time.sleep, args=(600,)).start()
