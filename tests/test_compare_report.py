"""The report's reasoning on made-up rows (no training): the recipe statement follows each row's declared recipe,
a ★ and the words "more than the seed spread" appear only where a difference exceeds the spread, the verdict,
and the diagnosis counts epochs from 1 and gives advice that fits what the row already does."""
from __future__ import annotations

import copy

import pytest

from shared import registry
from shared.compare import spread as spread_module
from shared.compare.config import CompareConfig
from shared.compare.measure import diagnose
from shared.compare.recipe import recipe_for, row_facts, statement, statement_text
from shared.compare.table import starred, table_cells
from shared.compare.verdict import difference_sentences, verdict

DATASET = {"name": "shapes", "num_train": 800, "num_val": 100, "num_test": 100, "image_shape": [32, 32, 3]}


def _row(model, framework, accuracy, std=None, facts=None, seconds=10.0, latency=1.0, eager=None):
    facts = facts or row_facts(recipe_for(registry.get_entry("cnn", "torch").info, CompareConfig()), "32x32")
    history = {"train_loss": [2.0, 1.0], "val_loss": [2.1, 1.2], "train_acc": [0.4, 0.8], "val_acc": [0.4, 0.7],
               "epoch_time_s": [seconds / 2] * 2, "best_epoch": 1}
    return {"id": f"{model}-{framework}-reference", "model": model, "framework": framework, "impl": "reference",
            "status": "ok", "test_accuracy": accuracy, "macro_f1": accuracy, "test_accuracy_std": std,
            "macro_f1_std": std, "seeds": [0, 1, 2] if std is not None else [0],
            "spread": None if std is None else {"test_accuracy_std": std, "macro_f1_std": std, "seeds": [0, 1, 2],
                                                 "source": "this run, seeds 0, 1, 2"},
            "recipe": {"epochs": facts["epochs"], "overrides": [], "facts": facts}, "params_total": 1000,
            "params_trainable": 1000, "best_epoch": 1, "train_time_s": seconds, "train_cpu_s": seconds,
            "train_images_per_s": 800 * 2 / seconds, "latency_ms_per_image_batch1": latency,
            "latency_ms_per_image_batch64": latency, "latency_eager_ms_per_image_batch64": eager or latency,
            "model_size_bytes": 4000, "history": history}


def test_the_statement_is_generated_from_each_rows_recipe():
    config = CompareConfig()
    info = registry.get_entry("cnn", "torch").info
    facts = row_facts(recipe_for(info, config), "32x32")
    rows = [_row("cnn", "torch", 0.9, facts=facts), _row("cnn", "keras", 0.9, facts=dict(facts))]
    before = statement(rows, DATASET, config)
    assert [group["rows"] for group in before["groups"]] == [["cnn · torch", "cnn · keras"]]
    assert "Adam" in before["groups"][0]["recipe"] and "8 epochs" in before["groups"][0]["recipe"]
    assert before["differences"] == []

    changed = copy.deepcopy(info)
    changed["recipe"].update(optimizer="SGD with momentum 0.9", augmentation="random flips", epochs=12)
    rows[1]["recipe"]["facts"] = row_facts(recipe_for(changed, config), "32x32")
    after = statement(rows, DATASET, config)
    assert len(after["groups"]) == 2 and "SGD with momentum 0.9" in statement_text(after)
    assert "12 epochs" in statement_text(after) and "augmentation: random flips" in statement_text(after)
    [difference] = after["differences"]
    assert "cnn · torch and cnn · keras differ in" in difference and "optimizer" in difference and "epochs" in difference


def test_the_command_line_overrides_every_row_and_says_so():
    recipe = recipe_for(registry.get_entry("resnet_cnn", "torch").info, CompareConfig(epochs=3, batch_size=16))
    assert (recipe.epochs, recipe.batch_size) == (3, 16) and recipe.overrides == ("epochs=3", "batch_size=16")
    assert recipe.facts["optimizer"].startswith("SGD")


@pytest.mark.parametrize("std, starred_, words", [
    (0.005, True, "more than the seed spread"),       # 4 points apart, spreads 0.5 + 0.5
    (0.03, False, "within the seed spread"),          # 4 points apart, spreads 3 + 3
    (None, False, "not tested against noise"),        # one seed, nothing recorded
])
def test_a_star_only_beyond_the_spread(std, starred_, words, monkeypatch):
    monkeypatch.setattr(spread_module, "SPREAD_PATH", spread_module.SPREAD_PATH.with_name("absent.json"))
    rows = [_row("transfer_lite0", "torch", 0.95, std), _row("transfer_lite0", "keras", 0.91, std)]
    assert ("test_accuracy" in starred(rows)) is starred_
    headers, body = table_cells(rows)
    accuracy = headers.index("test accuracy (%)")
    assert body[0][accuracy][1] is starred_ and not body[1][accuracy][1]
    assert words in difference_sentences(rows)[0] and words in verdict(rows)[int(std is None)]


def test_a_recorded_spread_applies_only_to_the_same_data_and_recipe(tmp_path):
    results = {"dataset": DATASET, "config": {"data_seed": 0}, "created": "now",
               "environment": {"cpu": "x", "cpu_count": 2}}
    measured = _row("cnn", "torch", 0.9, 0.01)
    measured["per_seed"] = [{"test_accuracy": a} for a in (0.89, 0.9, 0.91)]
    record = spread_module.record_spread({**results, "rows": [measured]}, "workbook compare --seeds 0 1 2",
                                         tmp_path / "spread.json")
    single = _row("cnn", "torch", 0.9)
    found = spread_module.spread_for(results, single, record)
    assert found["test_accuracy_std"] == 0.01 and "workbook compare --seeds 0 1 2" in found["source"]
    other_recipe = copy.deepcopy(single)
    other_recipe["recipe"]["facts"]["epochs"] = 20
    assert spread_module.spread_for(results, other_recipe, record) is None
    other_data = {**results, "dataset": {**DATASET, "num_train": 300}}
    assert spread_module.spread_for(other_data, single, record) is None


def test_times_earn_a_star_only_when_clearly_faster():
    rows = [_row("cnn", "torch", 0.9, 0.01, seconds=10.0), _row("cnn", "keras", 0.9, 0.01, seconds=11.0)]
    assert "train_time_s" not in starred(rows)
    rows[1]["train_time_s"] = 30.0
    assert starred(rows)["train_time_s"] == "cnn-torch-reference"


def test_the_verdict_names_transfer_gains_and_speed_causes():
    rows = [_row("cnn", "torch", 0.80, 0.01, seconds=10, latency=0.2),
            _row("transfer_lite0", "torch", 0.95, 0.01, seconds=60, latency=4.0, eager=4.0),
            _row("transfer_lite0", "keras", 0.95, 0.01, seconds=30, latency=1.0, eager=5.0)]
    rows[1]["params_total"] = 3_400_000
    text = " ".join(verdict(rows, {"per_class": [10, 50], "cnn": [0.11, 0.3], "transfer": [0.6, 0.85]}))
    assert "Best: transfer_lite0" in text and "tie" not in text
    assert "+15.0 points of accuracy" in text and "6.0x the training time" in text and "20x the time per image" in text
    assert "with 10 training images per class, transfer reaches 60.0% where the CNN reaches 11.0%" in text
    assert "Keras trains 2.0x faster than PyTorch" in text and "compiled TensorFlow graph" in text
    assert "not from faster kernels" in text                       # eager to eager, PyTorch is the faster


def test_diagnosis_counts_epochs_from_one_and_knows_the_row_keeps_its_best_epoch():
    history = {"train_loss": [2.0, 1.0, 0.5, 0.2], "val_loss": [2.0, 1.2, 1.3, 1.6],
               "train_acc": [0.3, 0.6, 0.85, 0.97], "val_acc": [0.3, 0.55, 0.58, 0.57], "best_epoch": 2}
    facts = {"augmentation": "none", "weight_decay": 0.0, "dropout": "0.3", "label_smoothing": 0.0}
    result = diagnose(history, facts)
    assert result["verdict"] == "overfitting"
    assert "at epoch 2 " in result["message"]                       # week 3 says epoch 1 (0-based): the 2nd epoch
    assert "early stopping" not in result["message"] and "already keeps its best" in result["message"]
    assert "uses dropout" in result["advice"] and "augmentation, weight decay, label smoothing" in result["advice"]


def test_a_flat_loss_after_a_fitted_first_epoch_is_judged_on_the_epochs_after_it():
    """Week 4's first epoch is a fitted linear probe: a flat training loss after it is not "not converging, raise
    the learning rate"; the epochs after it are diagnosed instead. A from-scratch flat loss still gets that advice."""
    facts = {"augmentation": "flip", "weight_decay": 0.05, "dropout": "0", "label_smoothing": 0.1}
    overfit = {"train_loss": [0.936, 0.923], "val_loss": [1.40, 1.38], "train_acc": [0.93, 0.89],
               "val_acc": [0.65, 0.67], "best_epoch": 1}                       # CIFAR-10, 8,000 images, 64 px
    result = diagnose(overfit, facts)
    assert result["verdict"] == "overfitting" and "raise it" not in result["advice"], result
    assert result["evidence"].startswith("after a first epoch that already fits the training set (93% train")
    worse = {"train_loss": [0.894, 0.908], "val_loss": [0.987, 0.993], "train_acc": [1.0, 0.867],
             "val_acc": [0.933, 0.808], "best_epoch": 0}                      # --quick: fine-tuning lowered val
    result = diagnose(worse, facts)
    assert result["verdict"] != "not converging" and "first epoch scored best on validation" in result["advice"]
    longer = {"train_loss": [0.9, 0.8, 0.5, 0.45], "val_loss": [1.0, 0.9, 0.95, 1.2], "train_acc": [0.92, 0.93, 0.97, 0.99],
              "val_acc": [0.8, 0.82, 0.81, 0.78], "best_epoch": 1}
    assert "at epoch 2 " in diagnose(longer, facts)["message"]              # epochs still counted from 1
    from_scratch = {"train_loss": [2.30, 2.29, 2.28], "val_loss": [2.30, 2.29, 2.29], "train_acc": [0.1, 0.11, 0.12],
                    "val_acc": [0.1, 0.1, 0.11], "best_epoch": 2}
    assert "raise it" in diagnose(from_scratch, facts)["advice"]


def test_recording_a_spread_keeps_other_data_and_replaces_the_same(tmp_path):
    results = {"dataset": DATASET, "config": {"data_seed": 0}, "created": "first",
               "environment": {"cpu": "x", "cpu_count": 2}}
    measured = _row("cnn", "torch", 0.9, 0.01)
    measured["per_seed"] = [{"test_accuracy": a} for a in (0.89, 0.9, 0.91)]
    path = tmp_path / "spread.json"
    spread_module.record_spread({**results, "rows": [measured]}, "run one", path)
    other_data = {**results, "dataset": {**DATASET, "name": "folder:cifar10"}, "created": "second"}
    spread_module.record_spread({**other_data, "rows": [{**measured, "test_accuracy_std": 0.02}]}, "run two", path)
    again = {**results, "created": "third"}
    record = spread_module.record_spread({**again, "rows": [{**measured, "test_accuracy_std": 0.03}]}, "run three",
                                         path)
    assert len(record["rows"]) == 2
    single = _row("cnn", "torch", 0.9)
    here, there = (spread_module.spread_for(r, single, record) for r in (results, other_data))
    assert here["test_accuracy_std"] == 0.03 and "measured third with `run three`" in here["source"]
    assert there["test_accuracy_std"] == 0.02 and "measured second with `run two`" in there["source"]
