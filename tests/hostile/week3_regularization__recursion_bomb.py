# Hostile: week3/regularization: make_optimizer recurses for ever.
# expect: failing
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

def make_optimizer(model, lr, weight_decay, decoupled=True):
    return make_optimizer(model, lr, weight_decay, decoupled)
