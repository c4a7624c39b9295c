# Hostile: week2/keras_cnn: build_keras_cnn calls pytest.exit().
# expect: failing
# Appended to the exercise's stub (the learner's copy) by tests/test_hostile_submissions.py.

def build_keras_cnn(num_classes=10, input_shape=(32, 32, 3), **options):
    import pytest
    pytest.exit("done here")
