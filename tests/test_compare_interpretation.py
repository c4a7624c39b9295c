"""The report's interpretation on hand-made numbers (no training): top losses are the highest-loss images, the
confused pairs come from the confusion matrix's largest off-diagonal counts, the sentences follow the measurements,
NaN is refused; and, on real registry models, the top-loss figure holds Grad-CAM overlays in both frameworks and
plain images (with the reason) for the LSTM."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from shared.compare import interpretation
from shared.compare.interpretation import action, confused_pairs, next_steps, pair_text, top_losses, wrong_answer
from shared.tensorboard_logs import read_scalars, write_history

NAMES = ["cat", "dog", "fox"]


def test_top_losses_are_the_highest_losses_in_order():
    logits = np.array([[4.0, 0.0, 0.0],    # 0: cat, right and sure          -> tiny loss
                       [0.0, 5.0, 0.0],    # 1: cat taken for dog, sure      -> the highest loss
                       [1.0, 1.0, 1.0],    # 2: fox, undecided               -> log 3
                       [0.0, 0.0, 3.0],    # 3: dog taken for fox            -> second highest
                       [2.0, 0.0, 0.0]])   # 4: cat, right
    labels = np.array([0, 0, 2, 1, 0])
    top = top_losses(logits, labels, NAMES, k=3)
    assert [item["index"] for item in top] == [1, 3, 2]
    first = top[0]
    assert (first["true"], first["predicted"]) == ("cat", "dog")
    expected = math.log(math.exp(5) + 2) - 0.0                # logsumexp - logit of the true class
    assert first["loss"] == pytest.approx(expected)
    assert first["probability"] == pytest.approx(math.exp(5) / (math.exp(5) + 2))
    assert first["true_probability"] == pytest.approx(1 / (math.exp(5) + 2))
    assert top[2]["loss"] == pytest.approx(math.log(3))
    # against a brute force over every image
    brute = [-math.log(np.exp(row - row.max())[label] / np.exp(row - row.max()).sum())
             for row, label in zip(logits, labels)]
    every = top_losses(logits, labels, NAMES, k=5)
    assert [item["loss"] for item in every] == pytest.approx(sorted(brute, reverse=True))


def test_top_losses_are_stable_for_huge_logits_and_refuse_nan():
    logits = np.array([[1000.0, -1000.0, 0.0], [0.0, 0.0, 0.0]])
    top = top_losses(logits, np.array([1, 2]), NAMES, k=2)
    assert top[0]["index"] == 0 and top[0]["loss"] == pytest.approx(2000.0) and np.isfinite(top[0]["loss"])
    for bad in (np.nan, np.inf):
        broken = logits.copy()
        broken[1, 1] = bad
        with pytest.raises(ValueError, match="NaN or inf"):
            top_losses(broken, np.array([1, 2]), NAMES)
    with pytest.raises(ValueError, match="labels must be classes"):
        top_losses(logits, np.array([1, 3]), NAMES)


def test_confused_pairs_from_a_hand_made_matrix():
    matrix = np.array([[10, 6, 0],     # cat: 16 images, 6 taken for dog
                       [3, 20, 3],     # dog: 26 images, 3 for cat, 3 for fox (a tie: class order decides)
                       [0, 6, 4]])     # fox: 10 images, 6 for dog: same count as cat->dog, larger share
    pairs = confused_pairs(matrix, NAMES, n=4)
    assert [(p["true"], p["predicted"], p["count"]) for p in pairs] == [
        ("fox", "dog", 6), ("cat", "dog", 6), ("dog", "cat", 3), ("dog", "fox", 3)]
    assert pairs[0]["share"] == pytest.approx(0.6) and pairs[1]["share"] == pytest.approx(6 / 16)
    assert pair_text(pairs[1]) == "cat taken for dog: 6 times (38% of cat)"
    assert pair_text({**pairs[1], "count": 1, "share": 1 / 16}) == "cat taken for dog: once (6% of cat)"
    assert confused_pairs(np.diag([5, 5, 5]), NAMES) == []            # no mistakes: no pair, never a zero count
    assert len(confused_pairs(matrix, NAMES)) == interpretation.CONFUSED_PAIRS
    # dog is the wrong answer for 12 images (6 cats, 6 foxes), cat for 3, fox for 3
    assert wrong_answer(matrix, NAMES) == {"predicted": "dog", "count": 12, "classes": 2}
    assert wrong_answer(np.diag([5, 5, 5]), NAMES) is None
    with pytest.raises(ValueError, match="NaN"):
        confused_pairs(np.where(np.eye(3) > 0, np.nan, 1.0), NAMES)
    with pytest.raises(ValueError, match="confusion matrix"):
        confused_pairs(np.ones((2, 2)), NAMES)


def _row(verdict="good fit", advice="train longer or scale the model up while the gap stays small", **extra):
    return {"id": "cnn-torch-reference", "model": "cnn", "framework": "torch",
            "diagnosis": {"verdict": verdict, "advice": advice, "evidence": "train 90% and val 88%"}, **extra}


def test_the_sentence_follows_the_measurements():
    pairs = [{"true": "cat", "predicted": "dog", "count": 6, "share": 0.4},
             {"true": "dog", "predicted": "fox", "count": 2, "share": 0.1}]
    concentrated = action(_row(), pairs, mistakes=10, tested=100)
    assert "6 of its 10 mistakes are cat taken for dog" in concentrated
    assert "add cat and dog training images" in concentrated
    spread = action(_row(), pairs, mistakes=40, tested=100)
    assert "40 mistakes are spread out (no class pair more than 6 times)" in spread
    assert "train longer or scale the model up" in spread and "cat taken for dog" not in spread
    overfit = action(_row("overfitting", "try augmentation"), pairs, mistakes=10, tested=100)
    assert overfit.startswith("Overfitting first: try augmentation; then look at the cat images taken for dog")
    assert action(_row(), [], mistakes=0, tested=100).startswith("No mistake on the 100 test images")
    # spread over pairs, but one class answered for half of them: that is what to look at
    sink = {"predicted": "dog", "count": 20, "classes": 2}
    pulled = action(_row(), pairs, mistakes=40, tested=100, sink=sink)
    assert pulled.startswith("It answers dog for 20 of its 40 mistakes (2 different classes): check the class balance")
    assert action(_row(), pairs, mistakes=40, tested=100, sink={**sink, "count": 19}) == spread   # under half
    assert action(_row(), pairs, mistakes=40, tested=100, sink={**sink, "classes": 1}) == spread  # one pair is no pull
    underfit = action(_row("underfitting", "train longer"), pairs, mistakes=40, tested=100, sink=sink)
    assert underfit == ("Underfitting first: train longer; then see why it answers dog for 20 of its 40 mistakes "
                        "(2 different classes).")


def test_next_steps_say_each_advice_once():
    label = lambda row: f"{row['model']} · {row['framework']}"  # noqa: E731
    pairs = {"mistakes": 10, "confused_pairs": [{"true": "cat", "predicted": "dog", "count": 5, "share": 0.5}]}
    rows = [_row("overfitting", "try augmentation", model="cnn", interpretation=pairs),
            _row("overfitting", "try augmentation", model="cnn", framework="keras", interpretation=pairs),
            _row(model="resnet", interpretation={"mistakes": 30, "confused_pairs": pairs["confused_pairs"]})]
    lines = next_steps(rows, label)
    assert lines[0] == "cnn · torch and cnn · keras: overfitting. Try augmentation."
    assert lines[1].startswith("resnet · torch: good fit; train 90% and val 88%. Train longer")
    # cat -> dog is concentrated in both cnn rows (5 of 10) but not in resnet's 30 mistakes
    assert lines[2].startswith("cat taken for dog is where cnn · torch and cnn · keras go wrong most")
    assert len(lines) == 3 and sum("try augmentation" in line.lower() for line in lines) == 1


def test_tensorboard_refuses_nan_and_leaves_out_an_unknown_learning_rate(tmp_path):
    history = {"train_loss": [2.0, 1.0, 0.5], "train_acc": [0.2, 0.5, 0.7], "val_loss": [2.1, 1.2, 0.9],
               "val_acc": [0.2, 0.4, 0.6], "epoch_time_s": [1.0] * 3, "best_epoch": 2}
    with pytest.raises(ValueError, match="NaN.*val_loss"):
        write_history(tmp_path / "nan", {**history, "val_loss": [2.1, float("nan"), 0.9]})
    assert not list((tmp_path / "nan").rglob("events.out.tfevents.*"))                # nothing half written
    scalars = read_scalars(write_history(tmp_path / "lr", {**history, "lr": [1e-3, None, 1e-4]}))
    assert set(scalars["train"]) == {"epoch_loss", "epoch_accuracy"}                     # no wrong lr chart
    assert [step for step, _ in scalars["validation"]["epoch_loss"]] == [0, 1, 2]        # one point per epoch


def test_several_seeds_get_one_tensorboard_folder_each_and_a_rerun_replaces_them(tmp_path):
    from shared.compare.row_report import tensorboard_folders

    history = {"train_loss": [2.0, 1.0], "train_acc": [0.2, 0.5], "val_loss": [2.1, 1.2], "val_acc": [0.2, 0.4],
               "epoch_time_s": [1.0, 1.0], "lr": [1e-3, 1e-4], "best_epoch": 1}
    row = {"id": "cnn-keras-reference", "per_seed": [{"seed": 0, "history": history}, {"seed": 3, "history": history}]}
    assert tensorboard_folders(row, tmp_path) == ["tensorboard/cnn-keras-reference/seed0",
                                                  "tensorboard/cnn-keras-reference/seed3"]
    tensorboard_folders(row, tmp_path)                                   # the row trained again
    scalars = read_scalars(tmp_path / "tensorboard" / "cnn-keras-reference" / "seed3")
    assert scalars["train"]["epoch_learning_rate"] == [(0, pytest.approx(1e-3)), (1, pytest.approx(1e-4))]
    single = {**row, "per_seed": row["per_seed"][:1]}
    assert tensorboard_folders(single, tmp_path) == ["tensorboard/cnn-keras-reference"]


# ---- Grad-CAM in the top-loss figure, on real registry models (untrained: no training needed) -------------------

def _first_seed(name, framework, dataset):
    from shared import registry
    from shared.compare.measure import backend_for
    from shared.data import input_spec

    backend = backend_for(framework)
    entry = registry.get_entry(name, framework)
    spec = input_spec(dataset.image_shape, dataset.mean, dataset.std)
    model = backend.build(entry, dataset.num_classes, spec.shape, seed=0)
    loader = backend.make_data(dataset.test, train=False, spec=spec, batch_size=16, seed=0)
    logits, _ = backend.predict(model, loader)
    row_spec = SimpleNamespace(entry=entry, framework=framework, impl="reference")
    return row_spec, SimpleNamespace(model=model, data={"test": loader}, logits=logits)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name, framework, heat", [("cnn", "torch", True), ("cnn", "keras", True),
                                                    ("lstm", "torch", False)])
def test_top_loss_figure_overlays_gradcam_in_both_frameworks(name, framework, heat, tmp_path, monkeypatch):
    from shared.compare import row_report
    from shared.data import load_dataset

    dataset = load_dataset("shapes", size=200, image_size=16, seed=0)
    spec, first = _first_seed(name, framework, dataset)
    drawn = {}
    original = row_report.plot_top_losses
    monkeypatch.setattr(row_report, "plot_top_losses",
                        lambda panels, top, title, note="", path=None: drawn.update(panels=panels, note=note)
                        or original(panels, top, title, note, path))
    row = {"id": f"{name}-{framework}-reference", "model": name, "framework": framework, "impl": "reference",
           "diagnosis": {"verdict": "underfitting", "advice": "train longer", "evidence": "train 10%"}}
    found, figure = row_report.interpret(row, spec, first, dataset, tmp_path)
    assert (tmp_path / figure).read_bytes()[:4] == b"\x89PNG"
    indices = [item["index"] for item in found["top_losses"]]
    assert len(drawn["panels"]) == len(indices) == interpretation.TOP_LOSSES
    raw = dataset.test.images[indices]                                   # 16 x 16 test images
    if heat:
        assert set(found["gradcam"]) == {"layer"} and drawn["note"] == ""
        assert all(panel.shape[0] >= 224 for panel in drawn["panels"])  # overlays, drawn at their enlarged size
        enlarged = [image.repeat(14, 0).repeat(14, 1) for image in raw]
        assert any(not np.array_equal(panel, image) for panel, image in zip(drawn["panels"], enlarged))
    else:
        assert "no convolutional layer" in found["gradcam"]["unavailable"] == drawn["note"]
        assert all(np.array_equal(panel, image) for panel, image in zip(drawn["panels"], raw))


@pytest.mark.timeout(120)
def test_nan_logits_are_refused_with_a_sentence_and_the_row_stays(tmp_path):
    """A model whose test logits hold NaN gets no ranking, no figure and no crash: the row keeps its measurements
    and says why it has no interpretation, in results.json's terms (the schema allows exactly that)."""
    import jsonschema

    from shared.compare import row_report
    from shared.compare.results import SCHEMA_PATH
    from shared.data import load_dataset

    dataset = load_dataset("shapes", size=200, image_size=16, seed=0)
    spec, first = _first_seed("cnn", "torch", dataset)
    first.logits[3, 1] = np.nan
    row = {"id": "cnn-torch-reference", "model": "cnn", "framework": "torch", "impl": "reference",
           "input": {"shape": [16, 16, 3]}, "figures": {"confusion": "c.png", "predictions": "p.png"},
           "per_seed": [{"seed": 0, "history": {"train_loss": [1.0], "train_acc": [0.5], "val_loss": [1.0],
                                                "val_acc": [0.5], "lr": [0.1]}}],
           "diagnosis": {"verdict": "good fit", "advice": "train longer", "evidence": "close"}}
    added = row_report.row_material(row, spec, first, dataset, tmp_path)
    assert added["interpretation"] == {"unavailable": "no interpretation: ValueError: the logits hold NaN or inf: "
                                                      "the model's outputs cannot be ranked by loss"}
    assert "top_losses" not in added["figures"] and not list(tmp_path.glob("figures/top_losses_*"))
    assert "layer_count" in added["architecture"] and added["tensorboard"] == ["tensorboard/cnn-torch-reference"]
    schema = json.loads(SCHEMA_PATH.read_text())
    interpretation_schema = schema["$defs"]["row"]["then"]["properties"]["interpretation"]
    jsonschema.validate(added["interpretation"], {**interpretation_schema, "$defs": schema["$defs"]})
