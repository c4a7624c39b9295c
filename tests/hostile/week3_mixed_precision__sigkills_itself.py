# Hostile: week3/mixed_precision: autocast_dtype sends itself SIGKILL.
# expect: crashed
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

def autocast_dtype(device_type):
    import os
    import signal
    os.kill(os.getpid(), signal.SIGKILL)
