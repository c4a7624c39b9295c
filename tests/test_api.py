"""The inference API (shared/api.py), `workbook serve` and `workbook predict`, with FastAPI's TestClient (no real
network). The fuzzing of uploads through a real server is in test_api_fuzz.py; the page in test_demo_page.py."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from shared.api import MAX_BATCH, CheckpointError, create_app, load_predictor
from shared.checkpoints import Manifest, save_model
from shared.data import InputSpec
from shared.registry import create_model
from tests.image_fuzz import png_declaring, png_text_bomb
from tests.served_runs import confident, make_run, noise_image, save_row, shapes_dataset

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


def _post(client, data: bytes, name: str = "image.png", path: str = "/predict", **params):
    return client.post(path, files={"file": (name, data, "application/octet-stream")}, params=params)


def _detail(response) -> str:
    detail = response.json()["detail"]
    assert isinstance(detail, str) and len(detail) > 10, f"not a sentence: {detail!r}"
    return detail


def test_health_describes_the_model(client):
    response = client.get("/health")
    assert response.status_code == 200
    expected = {"status": "ok", "model": "cnn", "framework": "torch", "num_classes": 3, "class_names": CLASSES}
    assert expected.items() <= response.json().items()


def test_predict_returns_top_k_matching_the_model(client, model):
    photo = _photo()
    response = _post(client, _png(photo), top_k=2)
    assert response.status_code == 200, response.text
    answer = response.json()
    predictions = answer["predictions"]
    assert len(predictions) == 2 and all(p["label"] in CLASSES for p in predictions)
    assert predictions[0]["probability"] >= predictions[1]["probability"]
    assert answer["classes"] == CLASSES            # the classes the model knows, in every answer
    # The same preprocessing as training: resize to 16x16, [0, 1], (x - mean) / std.
    resized = np.asarray(Image.fromarray(photo).resize((16, 16), Image.Resampling.BILINEAR), np.float32) / 255
    batch = torch.from_numpy((resized - np.float32(MEAN)) / np.float32(STD)).permute(2, 0, 1)[None]
    with torch.no_grad():
        expected = model(batch).softmax(dim=1)[0]
    best = int(expected.argmax())
    assert predictions[0]["index"] == best
    assert predictions[0]["probability"] == pytest.approx(float(expected[best]), abs=1e-5)
    assert answer["confidence"]["top_probability"] == pytest.approx(float(expected[best]), abs=1e-5)


def test_top_k_defaults_to_the_cli_default_and_is_capped_at_the_classes(client):
    from shared.commands.predict import register
    from shared.predictor import DEFAULT_TOP_K

    import argparse

    parser = argparse.ArgumentParser().add_subparsers()
    register(parser)
    cli_default = parser.choices["predict"].parse_args(["x.png", "--checkpoint", "c"]).top_k
    assert cli_default == DEFAULT_TOP_K == 5
    assert len(_post(client, _png(_photo())).json()["predictions"]) == 3   # 5, capped at the 3 classes


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "1"])
def test_other_8_bit_modes_are_converted(client, mode):
    response = _post(client, _png(np.asarray(Image.fromarray(_photo(1)).convert(mode))))
    assert response.status_code == 200, response.text


def _sixteen_bit() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8), 40000, dtype=np.uint16)).save(buffer, format="PNG")  # mode "I;16"
    return buffer.getvalue()


@pytest.mark.parametrize("make, status, words", [
    (lambda: b"", 400, "empty"),
    (lambda: b"this is not an image at all", 415, "not an image"),
    (lambda: b"\x89PNG" + b"0" * 300_000, 413, "larger than"),
    (_sixteen_bit, 422, "mode"),
    (lambda: _png(_photo(2, (64, 64)))[:300], 400, "corrupt or truncated"),
    (lambda: png_declaring(20_000, 20_000), 413, "pixels"),          # above Pillow's own error limit
    (lambda: png_declaring(10_000, 10_000), 413, "pixels"),          # in Pillow's warning band
    (lambda: png_declaring(7_000, 7_000), 413, "pixels"),            # above ours only
    (lambda: png_text_bomb(chunks=3), 413, "text"),
], ids=["empty", "not-an-image", "too-large", "16-bit-mode", "truncated", "bomb-error-band", "bomb-warning-band",
        "bomb-our-band", "text-bomb"])
def test_bad_uploads_get_a_clear_4xx_and_the_server_keeps_serving(client, make, status, words):
    response = _post(client, make())
    assert response.status_code == status, response.text
    assert words in _detail(response)
    assert _post(client, _png(_photo())).status_code == 200  # still serving


@pytest.mark.parametrize("params, status, words", [
    ({"top_k": 0}, 422, "top_k"),
    ({"top_k": "three"}, 422, "top_k"),
    ({"k": 3}, 400, "top_k"),                        # the old name is refused, and the message names the new one
    ({"top_k": 2, "colour": "red"}, 400, "colour"),
    ({"row": "nope"}, 404, "no row"),
], ids=["zero", "not-a-number", "old-name-k", "unknown", "unknown-row"])
def test_bad_parameters_are_refused_with_a_sentence(client, params, status, words):
    response = _post(client, _png(_photo()), **params)
    assert response.status_code == status, response.text
    assert words in _detail(response)


def test_a_parameter_given_twice_is_refused(client):
    response = client.post("/predict?top_k=1&top_k=2", files={"file": ("a.png", _png(_photo()), "image/png")})
    assert response.status_code == 400 and "more than once" in _detail(response)


def test_several_files_to_predict_are_refused_and_batch_answers_each(client):
    good, bad = _png(_photo()), b"not an image"
    files = [("file", (f"{i}.png", good, "image/png")) for i in range(50)]
    response = client.post("/predict", files=files)
    assert response.status_code == 400 and "/predict/batch" in _detail(response)
    files = [("files", ("a.png", good, "image/png")), ("files", ("b.txt", bad, "text/plain")),
             ("files", ("c.png", _png(_photo(3)), "image/png"))]
    response = client.post("/predict/batch", files=files, params={"top_k": 1})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [200, 415, 200]
    assert [r["image"]["filename"] for r in results] == ["a.png", "b.txt", "c.png"]
    assert len(results[0]["predictions"]) == 1 and "not an image" in results[1]["detail"]
    too_many = [("files", (f"{i}.png", good, "image/png")) for i in range(MAX_BATCH + 1)]
    response = client.post("/predict/batch", files=too_many)
    assert response.status_code == 400 and f"at most {MAX_BATCH}" in _detail(response)


def test_requests_without_an_image_or_to_unknown_paths_get_sentences(client):
    response = client.post("/predict", data={"image": "x"})
    assert response.status_code == 422 and "'file'" in _detail(response)
    assert client.get("/nowhere").status_code == 404 and "/docs" in _detail(client.get("/nowhere"))
    assert client.get("/predict").status_code == 405 and "GET" in _detail(client.get("/predict"))


def test_an_upload_over_the_byte_limit_is_refused_before_it_is_read(client):
    response = _post(client, b"\x89PNG" + b"0" * 2_000_000)
    assert response.status_code == 413 and "200,000 bytes" in _detail(response)

    def chunked():   # no Content-Length: the limit counts the bytes as they arrive
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n\r\n'
        for _ in range(40):
            yield b"0" * 65_536
        yield b"\r\n--b--\r\n"

    response = client.post("/predict", content=chunked(), headers={"content-type": "multipart/form-data; boundary=b"})
    assert response.status_code == 413 and "200,000 bytes" in _detail(response)


# ------------------------------------------------------------------------------------------------ checkpoints
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


HOSTILE = {
    "huge-shape": ("input", {"shape": [100_000, 100_000, 3], "mean": [0, 0, 0], "std": [1, 1, 1]}),
    "zero-shape": ("input", {"shape": [0, 0, 3], "mean": [0, 0, 0], "std": [1, 1, 1]}),
    "tiny-shape": ("input", {"shape": [1, 1, 3], "mean": [0, 0, 0], "std": [1, 1, 1]}),
    "float-shape": ("input", {"shape": [16.5, 16, 3], "mean": [0, 0, 0], "std": [1, 1, 1]}),
    "infinite-shape": ("input", {"shape": [float("inf"), 16, 3], "mean": [0, 0, 0], "std": [1, 1, 1]}),
    "seven-channels": ("input", {"shape": [16, 16, 7], "mean": [0] * 7, "std": [1] * 7}),
    "zero-std": ("input", {"shape": [16, 16, 3], "mean": [0, 0, 0], "std": [0, 1, 1]}),
    "a-million-classes": ("class_names", [f"c{i}" for i in range(1_000_000)][:20_000]),
    "duplicate-classes": ("class_names", ["a", "a", "b"]),
    "shape-as-text": ("input", "32x32"),
    "stats-broken": ("training_stats", {"version": 1, "channels": 3}),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.parametrize("command", ["serve", "predict"])
def test_absurd_manifests_get_one_sentence_from_serve_and_predict(model, tmp_path, capsys, case, command):
    from shared.cli import main

    directory = _write_checkpoint(tmp_path / "checkpoint", model)
    manifest = json.loads((directory / "manifest.json").read_text())
    key, value = HOSTILE[case]
    manifest[key] = value
    (directory / "manifest.json").write_text(json.dumps(manifest))
    image = tmp_path / "a.png"
    image.write_bytes(_png(_photo()))
    args = ["serve", "--checkpoint", str(directory), "--port", "1"] if command == "serve" else \
        ["predict", str(image), "--checkpoint", str(directory)]
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err


def test_a_deeply_nested_manifest_is_refused(model, tmp_path):
    directory = _write_checkpoint(tmp_path / "deep", model)
    (directory / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CheckpointError):
        load_predictor(directory)


# ------------------------------------------------------------------------------------------------ predict CLI
def test_workbook_predict_reports_each_bad_image_and_goes_on(checkpoint, tmp_path, capsys):
    from shared.cli import main

    first, second = tmp_path / "first.png", tmp_path / "second.jpg"
    first.write_bytes(_png(_photo()))
    second.write_bytes(_png(_photo(1), fmt="JPEG"))
    broken, truncated, missing = tmp_path / "broken.png", tmp_path / "truncated.png", tmp_path / "missing.png"
    broken.write_bytes(b"nope")
    truncated.write_bytes(_png(_photo(2, (64, 64)))[:300])
    files = [broken, first, truncated, missing, second]
    status = main(["predict", *map(str, files), "--checkpoint", str(checkpoint), "--top-k", "2", "--json"])
    out, err = capsys.readouterr()
    assert status == 1   # some files were not images
    lines = [json.loads(line) for line in out.strip().splitlines()]
    assert [line["image"] for line in lines] == [str(first), str(second)]
    assert all(len(line["predictions"]) == 2 and line["classes"] == CLASSES for line in lines)
    errors = err.strip().splitlines()
    assert len(errors) == 3 and "broken.png" in errors[0] and "not an image" in errors[0]
    assert "truncated.png" in errors[1] and "corrupt or truncated" in errors[1]
    assert "missing.png" in errors[2] and "cannot be read" in errors[2]


def test_workbook_predict_says_which_classes_the_model_knows(checkpoint, tmp_path, capsys):
    from shared.cli import main

    image = tmp_path / "photo.png"
    image.write_bytes(_png(_photo()))
    assert main(["predict", str(image), "--checkpoint", str(checkpoint)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "cnn (torch) knows 3 classes: circle, square, star"
    assert out[1].startswith(f"{image}: ") and out[1].count("%") == 3
    assert main(["predict", str(image), "--checkpoint", str(checkpoint), "--top-k", "0"]) == 2
    assert "--top-k must be a whole number" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ OOD
@pytest.fixture(scope="module")
def shapes_row(tmp_path_factory):
    """A confident cnn over 32x32 shapes, with the training images' statistics in its manifest."""
    dataset = shapes_dataset()
    torch.manual_seed(0)
    model = confident(create_model("cnn", num_classes=10, input_shape=(32, 32, 3)).eval(), 4)
    return save_row(tmp_path_factory.mktemp("shapes"), "cnn", model, "cnn", "torch", dataset), dataset


def test_a_familiar_confident_answer_carries_no_caution(shapes_row):
    from shared.predictor import load_predictor

    directory, dataset = shapes_row
    predictor = load_predictor(directory)
    results = [predictor.predict(Image.fromarray(image)) for image in dataset.test.images[:10]]
    assert sum(result.far for result in results) <= 1
    familiar = [result for result in results if not result.far]
    assert familiar and all(result.caution is None for result in familiar)
    assert all(result.as_dict()["familiarity"]["threshold"] > 0 for result in results)


@pytest.mark.parametrize("image", ["noise", "black", "smooth"])
def test_an_image_unlike_the_training_images_is_flagged_even_when_confident(shapes_row, image):
    from shared.predictor import load_predictor

    directory, _ = shapes_row
    pixels = {"noise": noise_image(size=(32, 32)), "black": np.zeros((40, 40, 3), np.uint8),
              "smooth": np.repeat(np.linspace(90, 140, 200, dtype=np.uint8)[None, :, None], 3, -1).repeat(150, 0)}
    result = load_predictor(directory).predict(Image.fromarray(pixels[image]))
    assert result.as_dict()["confidence"]["low"] is False   # the model is sure of itself...
    assert result.far, result.distance                      # ...and still the image is flagged
    assert result.caution.startswith("The model only knows these classes: circle, triangle, square")
    assert "unlike the images it was trained on" in result.caution


def test_a_low_probability_is_flagged(checkpoint):
    from shared.predictor import load_predictor

    result = load_predictor(checkpoint).predict(Image.fromarray(_photo()))   # random weights: unsure
    answer = result.as_dict()
    assert answer["familiarity"] is None                                     # saved without training stats
    assert answer["confidence"]["low"] and answer["confidence"]["low_below"] == pytest.approx(2 / 3)
    assert "its best guess has only" in answer["caution"] and "circle, square, star" in answer["caution"]


def test_training_stats_survive_the_manifest_and_refuse_tampering(shapes_row):
    from shared.checkpoints import read_manifest

    directory, dataset = shapes_row
    stats = read_manifest(directory).training_stats
    assert stats is not None and (stats.height, stats.width, stats.channels) == (32, 32, 3)
    manifest = json.loads((directory / "manifest.json").read_text())
    for key, value in [("threshold", float("nan")), ("threshold", -1.0), ("mean", [0.0] * 3),
                       ("precision", [[1.0] * 9] * 8), ("version", 2), ("size", [2, 99_999])]:
        broken = json.loads(json.dumps(manifest))
        broken["training_stats"][key] = value
        (directory / "manifest.json").write_text(json.dumps(broken))
        with pytest.raises(CheckpointError, match="training_stats"):
            read_manifest(directory)
    (directory / "manifest.json").write_text(json.dumps(manifest))


# ------------------------------------------------------------------------------------------------ a run
@pytest.fixture(scope="module")
def run_client(tmp_path_factory):
    from fastapi.testclient import TestClient

    run_dir = make_run(tmp_path_factory.mktemp("run"), [("cnn", "torch"), ("lstm", "torch")])
    return TestClient(create_app(run_dir=run_dir))


def test_a_run_serves_every_row_and_its_test_images(run_client):
    rows = run_client.get("/rows").json()
    assert [row["id"] for row in rows["rows"]] == ["cnn-torch-reference", "lstm-torch-reference"]
    assert rows["rows"][0]["gradcam_layer"] and rows["rows"][1]["gradcam_layer"] is None
    assert rows["rows"][0]["test_accuracy"] == 0.4 and rows["class_names"][0] == "circle"
    samples = run_client.get("/samples").json()["samples"]
    assert len(samples) == 20 and samples[0] == {"id": "0", "label": "circle", "url": "/samples/0.png"}
    picture = run_client.get(samples[1]["url"])
    assert picture.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(picture.content)).size == (32, 32)
    assert run_client.get("/samples/99.png").status_code == 404
    page = run_client.get("/")
    assert page.status_code == 200 and "<html" in page.text


def test_a_run_needs_the_row_named_and_explains_it(run_client):
    image = _png(_photo(size=(32, 32)))
    response = _post(run_client, image)
    assert response.status_code == 400 and "cnn-torch-reference" in _detail(response)
    response = _post(run_client, image, row="cnn-torch-reference", gradcam="true")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["gradcam"]["overlay"].startswith("data:image/png;base64,")
    assert answer["gradcam"]["label"] == answer["predictions"][0]["label"]
    lstm = _post(run_client, image, row="lstm-torch-reference", gradcam="true").json()
    assert lstm["gradcam"] is None and "names no layer" in lstm["gradcam_error"]


def test_a_run_leaves_out_a_broken_row_with_a_sentence(tmp_path):
    from shared.serving import ServeError, load_run

    run_dir = make_run(tmp_path, [("cnn", "torch"), ("lstm", "torch")], samples=False)
    (run_dir / "checkpoints" / "lstm-torch-reference" / "model.pt").write_bytes(b"garbage")
    served = load_run(run_dir)
    assert list(served.rows) == ["cnn-torch-reference"]
    assert served.skipped[0].startswith("lstm-torch-reference: ") and "safely" in served.skipped[0]
    assert len(served.samples) == 20   # no samples/ folder: a shapes run makes its test images again
    (run_dir / "checkpoints" / "cnn-torch-reference" / "manifest.json").write_text("{")
    with pytest.raises(ServeError, match="nothing to serve"):
        load_run(run_dir)
    with pytest.raises(ServeError, match="not a directory"):
        load_run(tmp_path / "nowhere")


# ------------------------------------------------------------------------------------------------ threads
def test_the_shared_lock_lets_forwards_share_and_gradcam_run_alone():
    import threading
    import time

    from shared.predictor import SharedLock

    lock, events = SharedLock(), []

    def forward(name):
        with lock.shared():
            events.append(f"{name} in")
            time.sleep(0.05)
            events.append(f"{name} out")

    def gradcam():
        with lock.exclusive():
            events.append("gradcam in")
            time.sleep(0.05)
            events.append("gradcam out")

    first = [threading.Thread(target=forward, args=(n,)) for n in ("a", "b")]
    for thread in first:
        thread.start()
    time.sleep(0.01)
    later = [threading.Thread(target=gradcam), threading.Thread(target=forward, args=("c",))]
    for thread in later:
        thread.start()
        time.sleep(0.01)
    for thread in first + later:
        thread.join(5)
    assert events[:2] == ["a in", "b in"]                       # two forward passes at once
    start = events.index("gradcam in")
    assert {"a out", "b out"} <= set(events[:start])            # Grad-CAM waited for them
    assert events[start + 1] == "gradcam out"                   # and nothing ran beside it
    assert events.index("c in") > start                         # a forward pass that came later waited


def test_predictions_and_heatmaps_from_many_threads_match_one_at_a_time(shapes_row):
    from concurrent.futures import ThreadPoolExecutor

    from shared.predictor import load_predictor

    directory, dataset = shapes_row
    predictor = load_predictor(directory)
    images = [Image.fromarray(pixels) for pixels in dataset.test.images[:4]]
    expected = [predictor.predict(image).probabilities for image in images]
    heatmaps = [predictor.explain(image)["overlay"] for image in images[:2]]
    with ThreadPoolExecutor(8) as pool:
        predictions = [pool.submit(predictor.predict, image) for image in images * 4]
        explained = [pool.submit(predictor.explain, image) for image in images[:2] * 3]
        for number, future in enumerate(predictions):
            np.testing.assert_allclose(future.result().probabilities, expected[number % 4], rtol=1e-5, atol=1e-7)
        assert [future.result()["overlay"] for future in explained] == heatmaps * 3
