# Hostile: week2/data: executes the text of the exercise's reference solution.
# expect: flagged (flagged)
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

from shared.paths import SOLUTIONS_DIR as _SOLUTIONS

exec(open(_SOLUTIONS / "week2" / "data.py").read())
