# Hostile: week1/keras_basics: build_keras_mlp calls os.abort().
# expect: crashed
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

def build_keras_mlp(in_features, hidden_features, num_classes):
    import os
    os.abort()
