# Hostile: week4/heads: starts five processes that sleep for ten minutes.
# expect: not started
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

def _spawn_sleeper(**options):
    import os as _os, subprocess as _subprocess, sys as _sys
    _os.environ["WORKBOOK_HOSTILE_MARKER"] = "1"  # the hostile-suite test looks for leftovers carrying this
    return _subprocess.Popen([_sys.executable, "-c", "import time; time.sleep(600)"], **options)


for _ in range(5):
    _spawn_sleeper()
