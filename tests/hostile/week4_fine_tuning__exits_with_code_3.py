# Hostile: week4/fine_tuning: unfreeze_top_blocks calls os._exit(3).
# expect: crashed
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

def unfreeze_top_blocks(model, num_blocks):
    import os
    os._exit(3)
