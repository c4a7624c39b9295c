# Hostile: week3/checkpoint: rewrites the grades file with full marks when the process exits.
# expect: not started
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

import atexit as _atexit
import json as _json
import sys as _sys
from pathlib import Path as _Path


def _fake():
    path = _sys.argv[_sys.argv.index("--grades-json") + 1] if "--grades-json" in _sys.argv else ".workbook/grades.json"
    _Path(path).write_text(_json.dumps({"points_earned": 999, "points_possible": 999, "tests": []}))


_atexit.register(_fake)
