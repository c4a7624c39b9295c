# Hostile: week3/improved_cnn: overwrites the grades file with full marks while imported.
# expect: flagged (flagged)
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

import json as _json
import sys as _sys
from pathlib import Path as _Path

_path = _sys.argv[_sys.argv.index("--grades-json") + 1] if "--grades-json" in _sys.argv else ".workbook/grades.json"
_Path(_path).write_text(_json.dumps({"points_earned": 999, "points_possible": 999, "tests": []}))
