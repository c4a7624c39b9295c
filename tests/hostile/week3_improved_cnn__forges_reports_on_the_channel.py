# Hostile: week3/improved_cnn: writes forged 'passed' reports into the autograder's channel file.
# expect: flagged (flagged)
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

import glob as _glob
import json as _json
import tempfile as _tempfile

for _channel in _glob.glob(_tempfile.gettempdir() + "/workbook-grading-*/test_improved_cnn-*.jsonl"):
    with open(_channel, "a") as _handle:
        _handle.write(_json.dumps({"kind": "report", "nodeid": "autograder/week3/test_improved_cnn.py::forged",
                                   "data": {"outcome": "passed"}}) + "\n")
