"""Grayscale end to end: `workbook compare --dataset fashion-mnist` (genuine-format files, generated offline) runs
every default row, the RGB transfer backbones included; each saved row then loads in `workbook predict` and the
API, and its manifest, the loader and the report agree on what the model takes in."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from shared.cli import main
from shared.compare.config import DEFAULT_MODELS, FRAMEWORKS
from tests.test_data_downloads import idx_gz, use_files


@pytest.fixture(scope="module")
def fashion_run(tmp_path_factory):
    data_dir, out = tmp_path_factory.mktemp("data"), tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (150, 28, 28)),
              "train-labels-idx1-ubyte.gz": np.arange(150) % 10,
              "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (40, 28, 28)),
              "t10k-labels-idx1-ubyte.gz": np.arange(40) % 10}
    files = {name: idx_gz(array) for name, array in arrays.items()}
    (data_dir / "fashion-mnist").mkdir()
    for name, data in files.items():
        (data_dir / "fashion-mnist" / name).write_bytes(data)
    with pytest.MonkeyPatch.context() as patch:
        use_files(patch, "fashion-mnist", files)
        patch.setenv("WORKBOOK_DATA_DIR", str(data_dir))
        code = main(["compare", "--dataset", "fashion-mnist", "--epochs", "1", "--latency-repeats", "1",
                     "--no-progress", "--data-efficiency", "--out", str(out)])
    return code, out, json.loads((out / "results.json").read_text())


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_every_default_row_trains_on_grey_images(fashion_run):
    code, out, results = fashion_run
    assert code == 0
    assert results["dataset"]["image_shape"] == [28, 28, 1]
    rows = {(row["model"], row["framework"]): row for row in results["rows"]}
    expected = {(m, f) for m in DEFAULT_MODELS for f in FRAMEWORKS if (m, f) != ("resnet_cnn", "keras")}
    assert set(rows) == expected and all(row["status"] == "ok" for row in rows.values()), rows
    assert rows[("cnn", "torch")]["input"]["shape"] == [28, 28, 1]
    transfer = rows[("transfer_lite0", "keras")]["input"]
    assert transfer["shape"] == [64, 64, 3] and transfer["source_channels"] == 1 and transfer["mean"] == [0.5] * 3
    assert "the 1 grey channel repeated" in (out / "report.md").read_text()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_each_saved_row_loads_in_predict_and_the_api(fashion_run, tmp_path, capsys):
    from fastapi.testclient import TestClient

    from shared.api import create_app
    from shared.checkpoints import load_model
    from shared.compare.measure import backend_for
    from shared.data import Split, input_spec

    _, out, results = fashion_run
    grey = tmp_path / "grey.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (28, 28), dtype=np.uint8)).save(grey)
    colour = io.BytesIO()
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(colour, format="PNG")
    for row in results["rows"]:
        directory = (out / row["checkpoint"]["manifest"]).parent
        _, manifest = load_model(directory)
        assert manifest.input.as_dict() == row["input"], row["id"]
        # what the loader feeds this row has the shape the manifest records
        spec = manifest.input
        batch, _ = next(iter(backend_for(row["framework"]).make_data(
            Split(np.zeros((2, 28, 28, 1), np.uint8), np.zeros(2)), train=False, spec=spec, batch_size=2, seed=0)))
        shape = tuple(batch.shape[1:]) if row["framework"] == "keras" else (batch.shape[2], batch.shape[3], batch.shape[1])
        assert shape == spec.shape, (row["id"], shape, spec.shape)
        assert main(["predict", str(grey), "--checkpoint", str(directory), "--json"]) == 0
        prediction = json.loads(capsys.readouterr().out.splitlines()[-1])
        assert prediction["predictions"][0]["label"] in results["dataset"]["class_names"]
        client = TestClient(create_app(directory))
        response = client.post("/predict", files={"file": ("c.png", colour.getvalue(), "image/png")})
        assert response.status_code == 200, (row["id"], response.text)
