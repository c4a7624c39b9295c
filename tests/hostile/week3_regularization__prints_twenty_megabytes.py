# Hostile: week3/regularization: prints 20 MB, then returns a wrong loss.
# expect: failing
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

def label_smoothing_cross_entropy(logits, targets, smoothing=0.1):
    for _ in range(200_000):
        print("x" * 100)
    return logits.sum() * 0
