# Hostile: week3/augmentation: starts a process in its own session (out of the process group).
# expect: not started
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

def _spawn_sleeper(**options):
    import os as _os, subprocess as _subprocess, sys as _sys
    _os.environ["WORKBOOK_HOSTILE_MARKER"] = "1"  # the hostile-suite test looks for leftovers carrying this
    return _subprocess.Popen([_sys.executable, "-c", "import time; time.sleep(600)"], **options)


_spawn_sleeper(start_new_session=True)
