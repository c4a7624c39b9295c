# Hostile: week3/loop: makes the grader's checks and pytest.fail do nothing.
# expect: flagged (flagged)
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

import pytest as _pytest

import shared.grading.checks as _checks

for _name in ("fail", "expect_true", "expect_close", "expect_shape", "expect_finite"):
    setattr(_checks, _name, lambda *args, **kwargs: None)
_pytest.fail = lambda *args, **kwargs: None
