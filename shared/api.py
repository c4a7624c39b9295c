"""Inference API: serve one checkpoint written by `workbook compare` with FastAPI.

    from shared.api import create_app
    app = create_app("reports/<run>/checkpoints/cnn-torch-reference")   # or: workbook serve --checkpoint DIR
    GET  /health                   -> {"status": "ok", "model": "cnn", "framework": "torch", "num_classes": 10, ...}
    POST /predict?k=3  (file=...)  -> {"predictions": [{"label": "cat", "probability": 0.91, "index": 3}, ...], ...}

A checkpoint directory holds the weights and a manifest.json (shared/compare/checkpoint.py): model name,
framework, num_classes, input_shape (H, W, C), class_names and the preprocessing (size, mean, std) the model was
trained with. PyTorch weights are read with `torch.load(weights_only=True)` (a state dict, never pickled code)
and must fit the model the manifest names, key for key and shape for shape; otherwise loading stops with a
CheckpointError that says what does not fit. Keras rows are `.keras` files.

Uploads are checked before the model sees them. Each failure is a 4xx answer with a sentence, and the server
goes on serving:
    400 empty upload, or a corrupt/truncated image        413 more than `max_bytes`, or more than MAX_PIXELS
    415 not an image (PIL cannot identify it)              422 an image mode we cannot turn into RGB/greyscale
An image is converted to the model's channels (RGB or greyscale), resized to the model's input size
(bilinear), scaled to [0, 1] and normalised with the manifest's mean and std: the training preprocessing.
"""

import inspect
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_UPLOAD_BYTES = 10 * 1024 * 1024   # 10 MiB: far above any photo a classifier needs
MAX_PIXELS = 40_000_000               # width x height; also guards against decompression bombs
DEFAULT_TOP_K = 5
CONVERTIBLE_MODES = {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr"}  # 8-bit colour or grey
MANIFEST_FIELDS = ("name", "framework", "num_classes", "input_shape", "class_names", "preprocessing", "file")


class CheckpointError(ValueError):
    """The checkpoint directory cannot be served: missing files, a broken manifest, or weights of another model."""


class BadImage(ValueError):
    """An upload that is not a usable image; `status_code` is the HTTP status to answer with."""

    def __init__(self, status_code: int, message: str):
        super().__init__(message)
        self.status_code, self.message = status_code, message


# ---------------------------------------------------------------------------------------------------- images
def decode_image(data: bytes, max_bytes: int = MAX_UPLOAD_BYTES) -> Image.Image:
    """Bytes of an uploaded file -> a fully loaded PIL image, or BadImage with the status and a sentence."""
    if not data:
        raise BadImage(400, "the upload is empty: send an image file (PNG, JPEG, ...) in the form field 'file'")
    if len(data) > max_bytes:
        raise BadImage(413, f"the upload is larger than the limit of {max_bytes:,} bytes")
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise BadImage(415, "the upload is not an image this server can read (send PNG, JPEG, BMP, GIF, TIFF "
                            "or WebP)") from None
    if image.width * image.height > MAX_PIXELS:
        raise BadImage(413, f"the image is {image.width}x{image.height} pixels, more than the limit of "
                            f"{MAX_PIXELS:,} pixels")
    if image.mode not in CONVERTIBLE_MODES:
        raise BadImage(422, f"image mode {image.mode!r} is not supported (for example 16-bit or floating-point "
                            f"pixels): send an 8-bit RGB or greyscale image")
    try:
        image.load()  # decode now: a truncated file fails here, not inside the model
    except (OSError, Image.DecompressionBombError, SyntaxError, ValueError) as error:
        raise BadImage(400, f"the image file is corrupt or truncated ({error})") from None
    return image


def prepare_image(image: Image.Image, input_shape, mean, std) -> np.ndarray:
    """PIL image -> float32 (H, W, C): the model's channels and size, [0, 1], then (x - mean) / std."""
    height, width, channels = input_shape
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))  # transparent pixels -> white
        image = Image.alpha_composite(background, image.convert("RGBA"))
    image = image.convert("L" if channels == 1 else "RGB").resize((width, height), Image.Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.float32).reshape(height, width, channels) / 255.0
    return (pixels - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)


# ---------------------------------------------------------------------------------------------------- models
def read_manifest(directory: Path) -> dict:
    path = directory / "manifest.json"
    if not path.is_file():
        raise CheckpointError(f"{directory} is not a checkpoint directory: it has no manifest.json (point "
                              f"--checkpoint at reports/<run>/checkpoints/<row>, written by `workbook compare`)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path} is not valid JSON ({error})") from None
    missing = [key for key in MANIFEST_FIELDS if key not in manifest]
    if missing:
        raise CheckpointError(f"{path} lacks {', '.join(missing)}")
    if len(manifest["class_names"]) != manifest["num_classes"]:
        raise CheckpointError(f"{path}: {len(manifest['class_names'])} class names for {manifest['num_classes']} classes")
    if not (directory / manifest["file"]).is_file():
        raise CheckpointError(f"{directory} has no weights file {manifest['file']!r} (named in its manifest)")
    return manifest


def _check_state_dict(state: dict, model, manifest: dict, path: Path) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [f"{key} {tuple(state[key].shape)} vs {tuple(expected[key].shape)}"
              for key in sorted(set(state) & set(expected)) if tuple(state[key].shape) != tuple(expected[key].shape)]
    if missing or unexpected or shapes:
        details = [f"{label}: {', '.join(items[:3])}{' ...' if len(items) > 3 else ''} ({len(items)})"
                   for label, items in (("missing", missing), ("unexpected", unexpected),
                                        ("shape mismatch (file vs model)", shapes)) if items]
        raise CheckpointError(
            f"{path} holds the weights of another model: they do not fit {manifest['name']!r} ({manifest['framework']}, "
            f"{manifest['num_classes']} classes, input {tuple(manifest['input_shape'])}) as its manifest says — "
            + "; ".join(details))


def _torch_model(directory: Path, manifest: dict):
    import torch

    from shared.registry import get_entry

    try:
        entry = get_entry(manifest["name"], "torch", manifest.get("impl", "reference"))
    except ValueError as error:
        raise CheckpointError(f"the manifest names a model this workbook cannot build: {error}") from None
    options = {"num_classes": manifest["num_classes"], "input_shape": tuple(manifest["input_shape"])}
    if "pretrained" in inspect.signature(entry.builder).parameters:
        options["pretrained"] = False  # the checkpoint replaces every weight: no need to load ImageNet's first
    model = entry.builder(**options)
    path = directory / manifest["file"]
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 — any unreadable file is reported the same way
        raise CheckpointError(f"{path} is not a PyTorch state dict that can be loaded safely ({error})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} holds a {type(state).__name__}, not a state dict")
    _check_state_dict(state, model, manifest, path)
    model.load_state_dict(state)
    return model.eval()


def _keras_model(directory: Path, manifest: dict):
    import keras

    path = directory / manifest["file"]
    try:
        model = keras.models.load_model(path)
    except Exception as error:  # noqa: BLE001
        raise CheckpointError(f"{path} could not be loaded as a Keras model ({error})") from None
    outputs = int(model.outputs[0].shape[-1])
    inputs = tuple(int(d) for d in model.inputs[0].shape[1:])
    if outputs != manifest["num_classes"] or inputs != tuple(manifest["input_shape"]):
        raise CheckpointError(f"{path} holds another model: it maps {inputs} to {outputs} classes, but the manifest "
                              f"says {tuple(manifest['input_shape'])} to {manifest['num_classes']}")
    return model


@dataclass
class Predictor:
    """A loaded checkpoint: `predictor.predict(pil_image, k)` -> [(label, probability, index), ...]."""

    model: Any
    manifest: dict
    directory: Path
    preprocessing: dict = field(init=False)

    def __post_init__(self) -> None:
        self.preprocessing = self.manifest["preprocessing"]

    @property
    def class_names(self) -> list[str]:
        return list(self.manifest["class_names"])

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """float32 (B, H, W, C) prepared images -> (B, num_classes) logits."""
        if self.manifest["framework"] == "keras":
            return np.asarray(self.model(batch, training=False))
        import torch

        with torch.inference_mode():
            return self.model(torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()).float().numpy()

    def predict(self, image: Image.Image, k: int = DEFAULT_TOP_K) -> list[tuple[str, float, int]]:
        pixels = prepare_image(image, self.manifest["input_shape"], self.preprocessing["mean"], self.preprocessing["std"])
        logits = self.logits(pixels[None])[0].astype(np.float64)        # (num_classes,)
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        best = np.argsort(-probabilities)[: max(1, min(k, len(probabilities)))]
        return [(self.class_names[i], float(probabilities[i]), int(i)) for i in best]


def load_predictor(directory) -> Predictor:
    """Load the checkpoint in `directory`; CheckpointError with a sentence when it cannot be served."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    from shared.backbones import torch_backbones  # noqa: F401 — torch/timm before TensorFlow (see its docstring)

    if manifest["framework"] == "torch":
        model = _torch_model(directory, manifest)
    elif manifest["framework"] == "keras":
        model = _keras_model(directory, manifest)
    else:
        raise CheckpointError(f"unknown framework {manifest['framework']!r} in {directory / 'manifest.json'}")
    return Predictor(model, manifest, directory)


# ---------------------------------------------------------------------------------------------------- the app
def create_app(checkpoint_dir=None, *, predictor: Predictor | None = None, max_bytes: int = MAX_UPLOAD_BYTES):
    """The FastAPI app serving `checkpoint_dir` (loaded now, so a bad checkpoint fails at start, not per request)."""
    from fastapi import FastAPI, File, HTTPException, Query, UploadFile

    predictor = predictor or load_predictor(checkpoint_dir)
    manifest = predictor.manifest
    app = FastAPI(title=f"workbook classifier: {manifest['name']} ({manifest['framework']})",
                  description="Upload an image to POST /predict; GET /health describes the model.")

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "model": manifest["name"], "framework": manifest["framework"],
                "num_classes": manifest["num_classes"], "input_shape": manifest["input_shape"],
                "class_names": predictor.class_names, "dataset": manifest.get("dataset")}

    @app.post("/predict")
    def predict(file: UploadFile = File(..., description="an image: PNG, JPEG, ..."),
                k: int = Query(DEFAULT_TOP_K, ge=1, le=1000, description="how many classes to return")) -> dict:
        data = file.file.read(max_bytes + 1)  # one byte more than allowed is enough to know it is too large
        try:
            image = decode_image(data, max_bytes)
        except BadImage as error:
            raise HTTPException(status_code=error.status_code, detail=error.message) from None
        predictions = predictor.predict(image, k)
        return {"model": manifest["name"], "framework": manifest["framework"],
                "image": {"filename": file.filename, "width": image.width, "height": image.height,
                          "mode": image.mode},
                "predictions": [{"label": label, "probability": probability, "index": index}
                                for label, probability, index in predictions]}

    return app
