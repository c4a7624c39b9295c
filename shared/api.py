"""Inference API: serve one checkpoint written by `workbook compare` with FastAPI.

    from shared.api import create_app
    app = create_app("reports/<run>/checkpoints/cnn-torch-reference")   # or: workbook serve --checkpoint DIR
    GET  /health                   -> {"status": "ok", "model": "cnn", "framework": "torch", "num_classes": 10, ...}
    POST /predict?k=3  (file=...)  -> {"predictions": [{"label": "cat", "probability": 0.91, "index": 3}, ...], ...}

The checkpoint is loaded by shared/checkpoints.py (`load_model`), which rebuilds the model from its manifest and
refuses weights of another model. Uploads are decoded by shared/images.py before the model sees them: each
failure is a 4xx answer with a sentence (400 corrupt, 413 too large, 415 not an image, 422 unsupported mode),
and the server goes on serving. An image is converted to the model's channels, resized to its input size
(bilinear), scaled to [0, 1] and normalised with the manifest's mean and std: the training preprocessing.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from shared.checkpoints import CheckpointError, Manifest, load_model
from shared.data.input_spec import InputSpec
from shared.images import MAX_BYTES, BadImage, open_image, resize, to_channels

DEFAULT_TOP_K = 5

__all__ = ["BadImage", "CheckpointError", "DEFAULT_TOP_K", "Predictor", "create_app", "load_predictor",
           "prepare_image"]


def prepare_image(image: Image.Image, spec: InputSpec) -> np.ndarray:
    """PIL image -> float32 (H, W, C): the model's channels and size, [0, 1], then (x - mean) / std. A model
    trained on grey images repeated into RGB (spec.source_channels 1) gets any picture grey, then repeated."""
    image = resize(to_channels(image, spec.source_channels), spec.height, spec.width)
    pixels = np.asarray(image, dtype=np.float32).reshape(spec.height, spec.width, spec.source_channels) / 255.0
    pixels = np.broadcast_to(pixels, spec.shape)
    return (pixels - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)


@dataclass
class Predictor:
    """A loaded checkpoint: `predictor.predict(pil_image, k)` -> [(label, probability, index), ...]."""

    model: Any
    manifest: Manifest
    directory: Path

    @property
    def class_names(self) -> list[str]:
        return list(self.manifest.class_names)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """float32 (B, H, W, C) prepared images -> (B, num_classes) logits."""
        if self.manifest.framework == "keras":
            return np.asarray(self.model(batch, training=False))
        import torch

        with torch.inference_mode():
            return self.model(torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()).float().numpy()

    def predict(self, image: Image.Image, k: int = DEFAULT_TOP_K) -> list[tuple[str, float, int]]:
        pixels = prepare_image(image, self.manifest.input)
        logits = self.logits(pixels[None])[0].astype(np.float64)        # (num_classes,)
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        best = np.argsort(-probabilities)[: max(1, min(k, len(probabilities)))]
        return [(self.class_names[i], float(probabilities[i]), int(i)) for i in best]


def load_predictor(directory) -> Predictor:
    """Load the checkpoint in `directory`; CheckpointError with a sentence when it cannot be served."""
    model, manifest = load_model(directory)
    return Predictor(model, manifest, Path(directory))


def create_app(checkpoint_dir=None, *, predictor: Predictor | None = None, max_bytes: int = MAX_BYTES):
    """The FastAPI app serving `checkpoint_dir` (loaded now, so a bad checkpoint fails at start, not per request)."""
    from fastapi import FastAPI, File, HTTPException, Query, UploadFile

    predictor = predictor or load_predictor(checkpoint_dir)
    manifest = predictor.manifest
    app = FastAPI(title=f"workbook classifier: {manifest.name} ({manifest.framework})",
                  description="Upload an image to POST /predict; GET /health describes the model.")

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "model": manifest.name, "framework": manifest.framework,
                "num_classes": manifest.num_classes, "input_shape": list(manifest.input.shape),
                "class_names": predictor.class_names, "dataset": manifest.dataset}

    @app.post("/predict")
    def predict(file: UploadFile = File(..., description="an image: PNG, JPEG, ..."),
                k: int = Query(DEFAULT_TOP_K, ge=1, le=1000, description="how many classes to return")) -> dict:
        data = file.file.read(max_bytes + 1)  # one byte more than allowed is enough to know it is too large
        try:
            image = open_image(data, max_bytes=max_bytes)
        except BadImage as error:
            raise HTTPException(status_code=error.status_code, detail=error.message) from None
        predictions = predictor.predict(image, k)
        return {"model": manifest.name, "framework": manifest.framework,
                "image": {"filename": file.filename, "width": image.width, "height": image.height,
                          "mode": image.mode},
                "predictions": [{"label": label, "probability": probability, "index": index}
                                for label, probability, index in predictions]}

    return app
