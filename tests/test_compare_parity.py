"""`workbook parity`: the PyTorch models and their Keras twins train alike from the same weights on the same
batches (week 4's transfer model has its own logit parity test in test_transfer.py), and a real mismatch shows."""
from __future__ import annotations

import numpy as np
import pytest

from shared.cli import main
from shared.compare import parity


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("model", ["cnn", "lstm"])
def test_parity_command_prints_matching_losses(model, capsys):
    assert main(["parity", model]) == 0
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert len(lines) == 20                                    # step, torch loss, keras loss, relative difference
    torch_losses, keras_losses = (np.array([float(line[i]) for line in lines]) for i in (1, 2))
    assert np.all(np.isfinite(torch_losses)) and np.all(np.isfinite(keras_losses))
    assert np.max(np.abs(torch_losses - keras_losses) / torch_losses) < 1e-3
    assert "the twins match" in out


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_parity_catches_keras_batchnorm_defaults(monkeypatch):
    """Keras' own BatchNormalization momentum (0.99) trains alike but evaluates differently: the check says so."""
    from solutions.week2 import keras_cnn

    monkeypatch.setattr(keras_cnn, "BN_MOMENTUM", 0.99)
    result = parity.run_parity("cnn", steps=6)
    assert not result.ok and result.eval_logits_difference > parity.EVAL_TOLERANCE
    assert "DIFFER" in parity.format_result(result)


def test_the_flatten_order_is_permuted_when_copying():
    """PyTorch flattens (C, H, W), Keras (H, W, C): the copied Dense kernel must see each feature in its place."""
    channels, height, width, out = 2, 3, 4, 5
    weight = np.random.default_rng(0).normal(size=(out, channels * height * width))
    kernel = parity._dense_kernel(weight, (height, width, channels))
    features = np.random.default_rng(1).normal(size=(channels, height, width))
    np.testing.assert_allclose(weight @ features.reshape(-1), features.transpose(1, 2, 0).reshape(-1) @ kernel)


def test_both_frameworks_follow_the_same_schedule():
    from solutions.week2.keras_cnn import keras_optimizer
    from solutions.week2.recipe import learning_rates

    for steps in (1, 2, 7, 125):
        schedule = keras_optimizer(3e-3, steps).learning_rate   # evaluated at step 0 ... through the variable
        keras_rates = [float(keras_optimizer(3e-3, steps)._learning_rate(step)) for step in range(steps)]
        np.testing.assert_allclose(keras_rates, learning_rates(3e-3, steps), rtol=1e-5, atol=1e-9)
        assert float(schedule) == pytest.approx(learning_rates(3e-3, steps)[0], abs=1e-9)
