# Hostile: week1/backprop: imports the exercise's reference solution.
# expect: flagged (flagged)
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

from solutions.week1.backprop import *  # noqa: F401,F403
