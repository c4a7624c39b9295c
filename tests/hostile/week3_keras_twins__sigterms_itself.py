# Hostile: week3/keras_twins: keras_cosine_warmup sends itself SIGTERM.
# expect: crashed
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

def keras_cosine_warmup(base_lr, total_steps, warmup_steps):
    import os
    import signal
    os.kill(os.getpid(), signal.SIGTERM)
