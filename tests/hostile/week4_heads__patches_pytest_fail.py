# Hostile: week4/heads: makes pytest.fail do nothing.
# expect: flagged (flagged)
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

import pytest as _pytest

_pytest.fail = lambda *args, **kwargs: None
