# Hostile: week1/tensors: make_grid sleeps for ever.
# expect: timed out
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

def make_grid(rows, cols):
    import time
    time.sleep(10 ** 6)
