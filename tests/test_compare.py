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
    assert len(paths) == 3 + 2 * len(results["rows"])
    for path in paths:
        assert (out / path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    markdown, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    assert "★" in markdown and "## Diagnosis" in markdown and "## In short" in markdown
    assert " ± " in markdown and "## How each row was trained" in markdown
    assert page.count("data:image/png;base64,") == len(paths) and "<table class='results'>" in page


def test_checkpoints_reload_with_their_manifest(run):
    from shared.checkpoints import load_model

    _, out, results = run
    for row in results["rows"]:
        model, manifest = load_model((out / row["checkpoint"]["manifest"]).parent)
        assert manifest.class_names == results["dataset"]["class_names"]
        assert manifest.input.as_dict() == row["input"] and len(manifest.input.mean) == 3
        assert (out / row["checkpoint"]["file"]).stat().st_size == row["model_size_bytes"]
