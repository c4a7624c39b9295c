# Hostile: week3/schedules: step_decay spins for ever (without catching the timeout).
# expect: timed out
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

def step_decay(optimizer, step_size, gamma=0.1):
    while True:
        pass
