# Hostile: week1/train_mlp: raises KeyboardInterrupt while imported (as Ctrl-C would).
# expect: failing
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

raise KeyboardInterrupt
