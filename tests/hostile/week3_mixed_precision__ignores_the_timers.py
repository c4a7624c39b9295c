# Hostile: week3/mixed_precision: ignores SIGALRM and SIGPROF, then spins in make_grad_scaler.
# expect: timed out
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

def make_grad_scaler(device_type, dtype):
    import signal
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    signal.signal(signal.SIGPROF, signal.SIG_IGN)
    while True:
        pass
