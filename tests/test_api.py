"""The inference API (shared/api.py) and `workbook predict`, with FastAPI's TestClient (no real network)."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from shared.api import CheckpointError, create_app, load_predictor
from shared.checkpoints import Manifest, save_model
from shared.data import InputSpec
from shared.registry import create_model

CLASSES = ["circle", "square", "star"]
SHAPE = (16, 16, 3)
MEAN, STD = [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]


def _write_checkpoint(directory, model, **changes):
    fields = dict(name="cnn", framework="torch", impl="reference", class_names=CLASSES,
                  input=InputSpec(*SHAPE, tuple(MEAN), tuple(STD)), dataset="shapes")
    fields.update(changes)
    save_model(directory, model, Manifest(**fields))
    return directory


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model("cnn", num_classes=len(CLASSES), input_shape=SHAPE).eval()


@pytest.fixture(scope="module")
def checkpoint(model, tmp_path_factory):
    return _write_checkpoint(tmp_path_factory.mktemp("checkpoint"), model)


@pytest.fixture(scope="module")
def client(checkpoint):
    from fastapi.testclient import TestClient

    return TestClient(create_app(checkpoint, max_bytes=200_000))


def _png(array: np.ndarray, mode: str | None = None, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format=fmt)
    return buffer.getvalue()


def _photo(seed: int = 0, size=(20, 24)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def _post(client, data: bytes, k: int | None = None, name: str = "image.png"):
    params = {"k": k} if k is not None else {}
    return client.post("/predict", files={"file": (name, data, "application/octet-stream")}, params=params)


def test_health_describes_the_model(client):
    response = client.get("/health")
    assert response.status_code == 200
    expected = {"status": "ok", "model": "cnn", "framework": "torch", "num_classes": 3, "class_names": CLASSES}
    assert expected.items() <= response.json().items()


def test_predict_returns_top_k_matching_the_model(client, model):
    photo = _photo()
    response = _post(client, _png(photo), k=2)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions) == 2 and all(p["label"] in CLASSES for p in predictions)
    assert predictions[0]["probability"] >= predictions[1]["probability"]
    # The same preprocessing as training: resize to 16x16, [0, 1], (x - mean) / std.
    resized = np.asarray(Image.fromarray(photo).resize((16, 16), Image.Resampling.BILINEAR), np.float32) / 255
    batch = torch.from_numpy((resized - np.float32(MEAN)) / np.float32(STD)).permute(2, 0, 1)[None]
    with torch.no_grad():
        expected = model(batch).softmax(dim=1)[0]
    best = int(expected.argmax())
    assert predictions[0]["index"] == best
    assert predictions[0]["probability"] == pytest.approx(float(expected[best]), abs=1e-5)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P"])
def test_other_8_bit_modes_are_converted(client, mode):
    image = Image.fromarray(_photo(1)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    response = _post(client, buffer.getvalue())
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 3  # k defaults to 5, capped at the number of classes


def _sixteen_bit() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8), 40000, dtype=np.uint16)).save(buffer, format="PNG")  # mode "I;16" / "I"
    return buffer.getvalue()


@pytest.mark.parametrize("data, status, words", [
    (b"", 400, "empty"),
    (b"this is not an image at all", 415, "not an image"),
    (b"\x89PNG" + b"0" * 300_000, 413, "larger than"),
    (None, 422, "mode"),
    ("truncated", 400, "corrupt or truncated"),
], ids=["empty", "not-an-image", "too-large", "16-bit-mode", "truncated"])
def test_bad_uploads_get_a_clear_4xx_and_the_server_keeps_serving(client, data, status, words):
    if data is None:
        data = _sixteen_bit()
    elif data == "truncated":
        data = _png(_photo(2, (64, 64)))[:300]
    response = _post(client, data)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    assert _post(client, _png(_photo())).status_code == 200  # still serving


def test_invalid_k_is_rejected(client):
    assert _post(client, _png(_photo()), k=0).status_code == 422


def test_a_checkpoint_of_another_model_fails_at_load(model, tmp_path):
    other = _write_checkpoint(tmp_path / "other", model, class_names=list("abcde"))
    with pytest.raises(CheckpointError, match="weights of another model"):
        load_predictor(other)
    renamed = _write_checkpoint(tmp_path / "lstm", model, name="lstm")
    with pytest.raises(CheckpointError, match="another model"):
        load_predictor(renamed)
    with pytest.raises(CheckpointError, match="no manifest.json"):
        load_predictor(tmp_path)


def test_weights_are_loaded_without_unpickling_code(model, tmp_path):
    directory = _write_checkpoint(tmp_path / "pickled", model)
    torch.save({"model": model}, directory / "model.pt")  # a whole pickled module, not a state dict
    with pytest.raises(CheckpointError, match="safely"):
        load_predictor(directory)


def test_workbook_predict_prints_top_k(checkpoint, tmp_path, capsys):
    from shared.cli import main

    image = tmp_path / "photo.png"
    image.write_bytes(_png(_photo()))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"nope")
    status = main(["predict", str(image), str(broken), "--checkpoint", str(checkpoint), "--top-k", "2", "--json"])
    out, err = capsys.readouterr()
    assert status == 1  # one of the two files was not an image
    line = json.loads(out.strip().splitlines()[0])
    assert line["image"] == str(image) and len(line["predictions"]) == 2
    assert "broken.png" in err and "not an image" in err
