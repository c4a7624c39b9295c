# Hostile: week2/data: starts a multiprocessing child that sleeps for ten minutes.
# expect: not started
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

import multiprocessing as _multiprocessing
import os as _os
import time as _time

_os.environ["WORKBOOK_HOSTILE_MARKER"] = "1"
_multiprocessing.Process(target=_time.sleep, args=(600,)).start()
