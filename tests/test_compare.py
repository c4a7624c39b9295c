"""`workbook compare` end to end on a tiny run: results.json valid against the shipped schema, both reports,
every figure, loadable checkpoints."""
from __future__ import annotations

import json
import os

import pytest

from shared.cli import main
from shared.compare.results import SCHEMA_PATH, validate

TINY = ["--size", "300", "--image-size", "16", "--epochs", "1", "--latency-repeats", "3", "--no-progress"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    code = main(["compare", *TINY, "--models", "cnn", "--seeds", "0", "1", "--data-efficiency", "10", "0",
                 "--out", str(out)])
    return code, out, json.loads((out / "results.json").read_text())


@pytest.mark.timeout(120)
def test_tiny_run_writes_valid_results(run):
    code, out, results = run
    assert code == 0
    validate(results)  # raises on any missing or mistyped field
    assert json.loads(SCHEMA_PATH.read_text())["$schema"].startswith("https://json-schema.org/")
    ids = {row["id"] for row in results["rows"]}
    assert ids == {"cnn-torch-reference", "cnn-keras-reference"}
    for row in results["rows"]:
        assert row["status"] == "ok", row
        assert 0 <= row["test_accuracy"] <= 1 and row["params_trainable"] > 0
        assert set(row["per_class_accuracy"]) == set(results["dataset"]["class_names"])
        assert len(row["history"]["train_loss"]) == 1
        assert row["seeds"] == [0, 1] and [run["seed"] for run in row["per_seed"]] == [0, 1]
        accuracies = [run["test_accuracy"] for run in row["per_seed"]]
        assert row["test_accuracy_mean"] == pytest.approx(sum(accuracies) / 2) == row["test_accuracy"]
        assert row["test_accuracy_std"] == pytest.approx(abs(accuracies[0] - accuracies[1]) / 2 ** 0.5)
        assert row["spread"]["source"].startswith("this run")
    assert results["environment"]["packages"]["torch"]
    assert "same 240 images" in results["fairness"] and results["verdict"]
    assert [group["rows"] for group in results["recipes"]["groups"]] == [["cnn · torch", "cnn · keras"]]


def test_reports_and_figures_exist(run):
    _, out, results = run
    paths = list(results["figures"].values())
    paths += [path for row in results["rows"] for path in row["figures"].values()]
    assert set(results["figures"]) == {"curves", "per_class", "data_efficiency"}
    assert len(paths) == 3 + 4 * len(results["rows"])  # confusion, predictions, top losses, architecture
    for path in paths:
        assert (out / path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    markdown, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    assert "★" in markdown and "## Diagnosis" in markdown and "## In short" in markdown
    assert " ± " in markdown and "## How each row was trained" in markdown
    assert page.count("data:image/png;base64,") == len(paths) and "<table class='results'>" in page


def test_the_report_interprets_and_draws_every_row(run):
    """Every measured row gets its sentence, its confused pairs, its top losses with Grad-CAM (both frameworks),
    its folded layer table and its TensorBoard folders, in report.md and report.html."""
    from shared.compare.table import row_label

    _, out, results = run
    markdown, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    for title in ("What each model gets wrong", "Architectures", "What I would try next", "TensorBoard"):
        assert f"## {title}" in markdown and f"<h2>{title}</h2>" in page, title
    interpretation = markdown.split("## What each model gets wrong")[1].split("\n## ")[0]
    for row in results["rows"]:
        found, label = row["interpretation"], row_label(row)
        assert "layer" in found["gradcam"], found["gradcam"]     # torch (captum) and keras (GradientTape) alike
        assert f"### {label}" in interpretation and found["action"] in interpretation
        assert f"![{label}: top losses]({row['figures']['top_losses']})" in interpretation
        assert len(found["top_losses"]) == 6 and found["tested"] == results["dataset"]["num_test"]
        losses = [item["loss"] for item in found["top_losses"]]
        assert losses == sorted(losses, reverse=True) and all(loss == loss for loss in losses)
        wrong = found["tested"] - round(results["dataset"]["num_test"] * row["per_seed"][0]["test_accuracy"])
        assert found["mistakes"] == wrong and sum(pair["count"] for pair in found["confused_pairs"]) <= wrong
        assert f"<summary>{label}: {row['architecture']['total_parameters']:,} parameters</summary>" in markdown
        assert row["architecture"]["total_parameters"] == row["params_total"]
        assert (out / row["architecture"]["all_layers"]).read_text().count("\n") > 5
        assert f"{label}: " + ", ".join(row["tensorboard"]) in markdown
    assert "tensorboard --logdir" in markdown and "<details><summary>" in page


def test_tensorboard_holds_each_seeds_history(run):
    """One folder per training seed, for the torch and the keras row alike, read back with tensorboard's own reader:
    the same tags on the same steps, one point per epoch, the values of the row's history."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, out, results = run
    tags = {"train": {"epoch_loss": "train_loss", "epoch_accuracy": "train_acc", "epoch_learning_rate": "lr"},
            "validation": {"epoch_loss": "val_loss", "epoch_accuracy": "val_acc"}}
    assert {row["framework"] for row in results["rows"]} == {"torch", "keras"}
    for row in results["rows"]:
        assert row["tensorboard"] == [f"tensorboard/{row['id']}/seed{seed}" for seed in row["seeds"]]
        for folder, seed_run in zip(row["tensorboard"], row["per_seed"]):
            history = seed_run["history"]
            for run_name, wanted in tags.items():
                reader = EventAccumulator(str(out / folder / run_name), size_guidance={"scalars": 0})
                reader.Reload()
                assert set(reader.Tags()["scalars"]) == set(wanted), (folder, run_name)
                for tag, key in wanted.items():
                    events = reader.Scalars(tag)
                    assert [event.step for event in events] == list(range(len(history[key])))
                    assert [event.value for event in events] == pytest.approx(history[key], rel=1e-6)


def test_checkpoints_reload_with_their_manifest(run):
    from shared.checkpoints import load_model

    _, out, results = run
    for row in results["rows"]:
        model, manifest = load_model((out / row["checkpoint"]["manifest"]).parent)
        assert manifest.class_names == results["dataset"]["class_names"]
        assert manifest.input.as_dict() == row["input"] and len(manifest.input.mean) == 3
        assert (out / row["checkpoint"]["file"]).stat().st_size == row["model_size_bytes"]


def _again(out, capsys, *options):
    """Run the same comparison into `out` again (without the data-efficiency phase, which is not a row)."""
    code = main(["compare", *TINY, "--models", "cnn", "--seeds", "0", "1", "--out", str(out), "--data-efficiency",
                 *options])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_rerun_keeps_finished_rows_and_trains_a_tampered_one_again(run, tmp_path, capsys):
    import shutil

    _, out, results = run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    torch_row = next(row for row in results["rows"] if row["framework"] == "torch")
    weights = copy / torch_row["checkpoint"]["file"]
    weights.write_bytes(weights.read_bytes()[:-100])                      # torn by a crash
    stale = weights.parent / f".model.pt.{2 ** 22 + 1}.abcdefgh.tmp.pt"   # a killed writer's leftover
    stale.write_bytes(b"\0" * 100)
    code, text = _again(copy, capsys)
    assert code == 0, text
    assert "cnn-keras-reference: kept from the interrupted run" in text
    assert "cnn-torch-reference: training again" in text and "is not the file saved with the row" in text
    assert not stale.exists() and "removed 1 unfinished file" in text
    rerun = json.loads((copy / "results.json").read_text())
    assert [row["test_accuracy"] for row in rerun["rows"]] == [row["test_accuracy"] for row in results["rows"]]


def test_hostile_or_broken_row_files_are_trained_again(run, tmp_path):
    import shutil

    from shared.compare import resume
    from shared.compare.plan import plan_rows
    from shared.data import load_dataset

    _, out, _ = run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    config = resume.saved_config(copy)
    spec = next(spec for spec in plan_rows(config)[0] if spec.framework == "torch")
    dataset = load_dataset(config.dataset, size=config.size, image_size=config.image_size, seed=config.data_seed)
    assert resume.kept_row(spec, dataset, copy)["id"] == spec.row_id
    path = copy / "rows" / f"{spec.row_id}.json"
    saved = json.loads(path.read_text())
    faults = {"outside": {**saved, "row": {**saved["row"], "checkpoint": {"file": "../../../etc/passwd",
                                                                        "manifest": "x"}}},
              "other row": {**saved, "row": {**saved["row"], "id": "lstm-torch-reference"}},
              "not a row": {**saved, "row": {"id": spec.row_id}}, "a list": [1, 2]}
    for name, content in faults.items():
        path.write_text(json.dumps(content))
        assert resume.kept_row(spec, dataset, copy) is None, name
    path.write_text(json.dumps(saved)[:50])
    assert resume.kept_row(spec, dataset, copy) is None
    path.write_text(json.dumps(saved))
    shutil.rmtree(copy / saved["row"]["tensorboard"][0])      # its charts deleted: trained (and written) again
    assert resume.kept_row(spec, dataset, copy) is None


def test_another_runs_directory_and_resume_with_options_are_one_sentence(run, tmp_path, capsys):
    import shutil

    _, out, _ = run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    assert main(["compare", *TINY, "--epochs", "2", "--models", "cnn", "--seeds", "0", "1", "--out", str(copy)]) == 2
    err = capsys.readouterr().err.strip()
    assert "holds a run started with other settings (epochs 1, not 2)" in err and "--resume" in err
    assert main(["compare", "--resume", str(copy), "--epochs", "3"]) == 2
    assert "leave out --epochs" in capsys.readouterr().err
    (copy / "run.json").write_text("{")
    assert main(["compare", "--resume", str(copy)]) == 2
    err = capsys.readouterr().err.strip()
    assert "run.json cannot be read" in err and err.count("\n") == 0
    assert main(["compare", "--resume", str(tmp_path / "nothing")]) == 2
    assert "has no run.json" in capsys.readouterr().err
