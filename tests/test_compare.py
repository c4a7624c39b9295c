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
    code = main(["compare", *TINY, "--models", "cnn", "--out", str(out)])
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
    assert results["environment"]["packages"]["torch"]
    assert "same split" in results["fairness"]


def test_reports_and_figures_exist(run):
    _, out, results = run
    paths = list(results["figures"].values())
    paths += [path for row in results["rows"] for path in row["figures"].values()]
    assert set(results["figures"]) == {"curves", "per_class", "data_efficiency"}
    assert len(paths) == 3 + 2 * len(results["rows"])
    for path in paths:
        assert (out / path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    markdown, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    assert "★" in markdown and "## Diagnosis" in markdown
    assert page.count("data:image/png;base64,") == len(paths) and "<table>" in page


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
    code = main(["compare", *TINY, "--models", "cnn", "--out", str(out), "--data-efficiency", *options])
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
    dataset = load_dataset(config.dataset, size=config.size, image_size=config.image_size, seed=config.seed)
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


def test_another_runs_directory_and_resume_with_options_are_one_sentence(run, tmp_path, capsys):
    import shutil

    _, out, _ = run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    assert main(["compare", *TINY, "--epochs", "2", "--models", "cnn", "--out", str(copy)]) == 2
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
