# Hostile: week2/lstm: loops for ever at import, catching every exception.
# expect: timed out
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

import time as _time

while True:
    try:
        _time.sleep(0.05)
    except BaseException:
        pass
