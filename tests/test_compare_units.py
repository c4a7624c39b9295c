"""The shared evaluation helpers: one accuracy, one latency timer, the diagnosis rules, the figures."""
from __future__ import annotations

import numpy as np
import pytest

from shared import metrics, plots, timing
from shared.compare.measure import diagnose


def test_accuracy_takes_logits_or_classes():
    labels = np.array([0, 1, 2, 2])
    logits = np.eye(3)[[0, 1, 1, 2]]
    assert metrics.accuracy(logits, labels) == metrics.accuracy([0, 1, 1, 2], labels) == 0.75
    np.testing.assert_allclose(metrics.per_class_accuracy(logits, labels, 4)[:3], [1, 1, 0.5])
    assert np.isnan(metrics.per_class_accuracy(logits, labels, 4)[3])
    assert metrics.confusion(logits, labels, 3).sum() == 4
    with pytest.raises(ValueError):
        metrics.accuracy([0, 1], labels)


def test_latency_is_the_median_after_warmup():
    calls = []
    seconds = timing.median_seconds(lambda: calls.append(1), warmup=2, repeats=5)
    assert len(calls) == 7 and 0 <= seconds < 0.01
    assert timing.latency_ms_per_image(lambda batch: None, None, 64, repeats=3) >= 0


def _history(train_acc, val_acc, val_loss=None):
    val_loss = val_loss or [1.0 - v for v in val_acc]
    return {"train_acc": train_acc, "val_acc": val_acc, "train_loss": [1.0 - t for t in train_acc],
            "val_loss": val_loss, "epoch_time_s": [1.0] * len(train_acc), "best_epoch": int(np.argmax(val_acc))}


@pytest.mark.parametrize("history, verdict", [
    (_history([0.7, 0.9, 0.99], [0.7, 0.8, 0.8]), "overfitting"),
    (_history([0.3, 0.4], [0.3, 0.4]), "underfitting"),
    (_history([0.9, 0.95], [0.93, 0.93]), "good fit"),
])
def test_diagnosis_names_the_problem(history, verdict):
    result = diagnose(history)
    assert result["verdict"] == verdict
    assert set(result) >= {"verdict", "message", "gap"} and verdict in result["message"].lower()
    assert result["gap"] == pytest.approx(history["train_acc"][-1] - history["val_acc"][-1])


def test_figures_are_written(tmp_path):
    history = _history([0.5, 0.8], [0.5, 0.7])
    plots.plot_history({"a": history, "b": history}, path=tmp_path / "curves.png")
    plots.plot_confusion_matrix(np.array([[3, 1], [0, 4]]), ["x", "y"], path=tmp_path / "cm.png")
    images = np.zeros((5, 8, 8, 3), np.uint8)
    plots.plot_predictions(images, [0, 1, 0, 1, 0], [0, 0, 0, 1, 1], ["x", "y"], path=tmp_path / "grid.png")
    plots.plot_per_class_accuracy({"a": np.array([0.5, np.nan])}, ["x", "y"], path=tmp_path / "bars.png")
    assert all((tmp_path / name).stat().st_size > 1000 for name in ("curves.png", "cm.png", "grid.png", "bars.png"))


@pytest.mark.parametrize("keras_epochs, says_compile", [([60.0, 40.0, 40.0, 40.0], True),
                                                        ([40.0, 40.1, 39.9, 40.0], False)])
def test_speed_sentence_credits_compiling_only_when_the_first_epoch_is_slower(keras_epochs, says_compile):
    from shared.compare.verdict import training_speed

    torch_row = {"model": "cnn", "train_time_s": 56.0, "train_cpu_s": 100.0, "history": {"epoch_time_s": [14.0] * 4}}
    keras_row = {"model": "cnn", "train_time_s": sum(keras_epochs), "train_cpu_s": 300.0,
                 "history": {"epoch_time_s": keras_epochs}}
    sentence = training_speed(torch_row, keras_row)
    assert "PyTorch trains" in sentence and "14.0 s against 40.0 s per epoch" in sentence, sentence
    assert ("20.0 s longer than its others" in sentence) is says_compile, sentence
    assert ("took no longer than the others" in sentence) is not says_compile, sentence
    assert "took 0.0 s" not in sentence, sentence


def test_recipe_table_shows_a_fact_that_only_a_later_group_has(tmp_path):
    """A fact the first group leaves empty (say "other") still gets its line when another group states it."""
    from shared.compare.report import recipe_section

    recipes = {"common": "Every row trains on the same images.", "differences": [],
               "groups": [{"rows": ["cnn · torch"], "recipe": "Adam", "facts": {"optimizer": "Adam"}},
                          {"rows": ["resnet_cnn · torch"], "recipe": "SGD",
                           "facts": {"optimizer": "SGD", "other": "frozen whitening conv, float32, channels_last"}}]}
    section = recipe_section({"recipes": recipes}, tmp_path)
    assert "| other | – | frozen whitening conv, float32, channels_last |" in section.markdown, section.markdown
    assert "<td>frozen whitening conv, float32, channels_last</td>" in section.html
