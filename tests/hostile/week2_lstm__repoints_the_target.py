# Hostile: week2/lstm: sets WORKBOOK_TARGET=solutions from inside.
# expect: flagged (flagged)
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

import os as _os
_os.environ["WORKBOOK_TARGET"] = "solutions"
