"""A stub of the demo page's API (shared/web/static/index.html's header): fake predictions, real page.

It answers like the real API will, from no checkpoint at all, so the page can be built and browser-tested now:
rows of a made-up run; `shapes` test images as samples; predictions that favour a sample's true class; and a
heatmap from where the sample's shape is drawn (uploads: where the image differs most from its average colour).
Bad uploads get the real API's status codes and sentences (shared/api.py). Run it to look at the page:

    python -m tests.demo_stub 8765      # then open http://127.0.0.1:8765/
"""
import hashlib
import io
import sys

import numpy as np
import scipy.ndimage
from fastapi import FastAPI, File, HTTPException, Query, UploadFile
from fastapi.responses import Response
from PIL import Image, UnidentifiedImageError

from shared.data.shapes import CLASS_NAMES, generate_with_masks
from shared.interpret.overlay import data_url, overlay_png
from shared.web import add_page

ROWS = [  # id, model, framework, test accuracy, Grad-CAM layer, description
    ("cnn-torch-reference", "cnn", "torch", 0.52, "features.-1.2", "3 conv blocks (conv-BN-ReLU-pool), dropout, 2 dense"),
    ("cnn-keras-reference", "cnn", "keras", 0.50, "re_lu_2", "Functional twin of the PyTorch CNN"),
    ("resnet_cnn-torch-reference", "resnet_cnn", "torch", 0.71, "stages.-1", "residual CNN + airbench-style recipe"),
    ("transfer_lite0-torch-reference", "transfer_lite0", "torch", 0.83, "bn2", "EfficientNet-Lite0, fine-tuned"),
    ("transfer_lite0-keras-reference", "transfer_lite0", "keras", 0.81, "head_act", "EfficientNet-Lite0 (ported)"),
    ("lstm-torch-reference", "lstm", "torch", 0.31, None, "Reads the image row by row with nn.LSTM"),
]
SAMPLES = 18


def _decode(data: bytes) -> Image.Image:
    if not data:
        raise HTTPException(400, "the file is empty: send an image file (PNG, JPEG, ...)")
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except UnidentifiedImageError:
        raise HTTPException(415, "not an image this workbook can read (send PNG, JPEG, BMP, GIF, TIFF or WebP)") from None
    except OSError as error:
        raise HTTPException(400, f"the image file is corrupt or truncated ({error})") from None
    return image.convert("RGB")


def _fake_probabilities(pixels: np.ndarray, row_id: str, label: int | None) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(pixels.tobytes() + row_id.encode()).digest()[:8], "little")
    logits = np.random.default_rng(seed).normal(0, 1.2, len(CLASS_NAMES))
    if label is not None:
        logits[label] += 3.0 * dict((r[0], r[3]) for r in ROWS)[row_id] + 1
    probabilities = np.exp(logits - logits.max())
    return probabilities / probabilities.sum()


def _fake_heatmap(pixels: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    if mask is None:   # an upload: where it differs most from its average colour
        mask = np.abs(pixels.astype(np.float32) - pixels.mean(axis=(0, 1))).sum(axis=-1)
    heat = scipy.ndimage.gaussian_filter(mask.astype(np.float32), sigma=max(1.0, mask.shape[0] / 12))
    return heat / heat.max() if heat.max() > 0 else heat


def create_stub_app(run: str = "2026-05-02-quick") -> FastAPI:
    images, labels, masks = generate_with_masks(SAMPLES, 32, seed=7)
    by_hash = {hashlib.sha256(image.tobytes()).hexdigest(): i for i, image in enumerate(images)}
    app = FastAPI(title="demo page stub")
    add_page(app)

    @app.get("/rows")
    def rows() -> dict:
        return {"run": run, "dataset": "shapes", "class_names": CLASS_NAMES,
                "rows": [{"id": id_, "model": model, "framework": framework, "impl": "reference",
                          "description": description, "input_shape": [32, 32, 3], "test_accuracy": accuracy,
                          "gradcam_layer": layer} for id_, model, framework, accuracy, layer, description in ROWS]}

    @app.get("/samples")
    def samples() -> dict:
        return {"samples": [{"id": str(i), "label": CLASS_NAMES[label], "url": f"/samples/{i}.png"}
                            for i, label in enumerate(labels)]}

    @app.get("/samples/{index}.png")
    def sample(index: int) -> Response:
        if not 0 <= index < SAMPLES:
            raise HTTPException(404, f"no test image {index}; there are {SAMPLES}")
        buffer = io.BytesIO()
        Image.fromarray(images[index]).save(buffer, format="PNG")
        return Response(buffer.getvalue(), media_type="image/png")

    @app.post("/predict")
    def predict(file: UploadFile = File(...), row: str = Query(ROWS[0][0]), k: int = Query(5, ge=1, le=1000),
                gradcam: bool = Query(False)) -> dict:
        entry = next((r for r in ROWS if r[0] == row), None)
        if entry is None:
            raise HTTPException(404, f"no row named {row!r} in this run; rows: {', '.join(r[0] for r in ROWS)}")
        image = _decode(file.file.read())
        pixels = np.asarray(image)
        index = by_hash.get(hashlib.sha256(pixels.tobytes()).hexdigest())
        probabilities = _fake_probabilities(pixels, row, None if index is None else int(labels[index]))
        best = np.argsort(-probabilities)[:k]
        answer = {"row": row, "model": entry[1], "framework": entry[2],
                  "image": {"filename": file.filename, "width": image.width, "height": image.height, "mode": "RGB"},
                  "predictions": [{"label": CLASS_NAMES[i], "probability": float(probabilities[i]), "index": int(i)}
                                  for i in best],
                  "gradcam": None, "gradcam_error": None}
        if gradcam and entry[4] is None:
            answer["gradcam_error"] = (f"{entry[1]!r} ({entry[2]}, reference) names no Grad-CAM layer: it is not a "
                                       f"convolutional network")
        elif gradcam:
            heat = _fake_heatmap(pixels, None if index is None else masks[index])
            answer["gradcam"] = {"class_index": int(best[0]), "label": CLASS_NAMES[best[0]], "layer": entry[4],
                                 "overlay": data_url(overlay_png(pixels, heat))}
        return answer

    return app


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(create_stub_app(), host="127.0.0.1", port=int(sys.argv[1]) if len(sys.argv) > 1 else 8765)
