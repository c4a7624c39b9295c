"""A saved model that answers for one image: top-k classes, how far to trust them, and (on request) Grad-CAM.

    predictor = load_predictor("reports/<run>/checkpoints/cnn-torch-reference")   # CheckpointError: a sentence
    result = predictor.predict(image, top_k=5)          # image: a decoded PIL image (shared/images.py)
    result.as_dict()   # {"predictions": [{"label", "probability", "index"}], "classes": [...], "caution": ...}

The image goes through the training preprocessing: the model's channels, resized to its input size (bilinear),
scaled to [0, 1] and normalised with the manifest's mean and std. The answer always says which classes the model
knows, and `caution` says in a sentence when not to trust it (shared/ood.py: a low best probability, or an image
unlike the training images). Used by the API (shared/api.py) and `workbook predict`; DEFAULT_TOP_K is the one
default of both.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from shared.checkpoints import Manifest, load_model
from shared.data.input_spec import InputSpec
from shared.images import DECLARED_SIZE, resize, to_channels
from shared.ood import caution, low_confidence

DEFAULT_TOP_K = 5       # classes returned by POST /predict and printed by `workbook predict`
MAX_TOP_K = 1000
DISPLAY_SIDE = 448      # the Grad-CAM overlay shows the upload at most this large


def prepare_image(image: Image.Image, spec: InputSpec) -> np.ndarray:
    """PIL image -> float32 (H, W, C): the model's channels and size, [0, 1], then (x - mean) / std. A model
    trained on grey images repeated into RGB (spec.source_channels 1) gets any picture grey, then repeated."""
    image = resize(to_channels(image, spec.source_channels), spec.height, spec.width)
    pixels = np.asarray(image, dtype=np.float32).reshape(spec.height, spec.width, spec.source_channels) / 255.0
    pixels = np.broadcast_to(pixels, spec.shape)
    return (pixels - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)


def check_top_k(top_k) -> int:
    """top_k as an int from 1 to MAX_TOP_K, else ValueError with a sentence (the CLI and the API share it)."""
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise ValueError(f"top_k must be a whole number from 1 to {MAX_TOP_K}, got {top_k!r}")
    return top_k


@dataclass
class Prediction:
    probabilities: np.ndarray            # (num_classes,) softmax
    class_names: list[str]
    top_k: int
    distance: float | None = None        # from the training images (None: the checkpoint has no training_stats)
    threshold: float | None = None
    image: dict = field(default_factory=dict)

    @property
    def top(self) -> list[tuple[str, float, int]]:
        best = np.argsort(-self.probabilities, kind="stable")[: min(self.top_k, len(self.probabilities))]
        return [(self.class_names[i], float(self.probabilities[i]), int(i)) for i in best]

    @property
    def far(self) -> bool:
        """Further from the training images than THRESHOLD_QUANTILE of them (shared/ood.py)."""
        return self.distance is not None and self.distance > self.threshold

    @property
    def caution(self) -> str | None:
        return caution(float(self.probabilities.max()), self.class_names, self.far)

    def as_dict(self) -> dict:
        best = float(self.probabilities.max())
        low = low_confidence(len(self.class_names))
        return {"predictions": [{"label": label, "probability": p, "index": i} for label, p, i in self.top],
                "classes": list(self.class_names),
                "confidence": {"top_probability": best, "low_below": low, "low": best < low},
                "familiarity": None if self.distance is None else
                {"distance": self.distance, "threshold": self.threshold, "far": self.far},
                "caution": self.caution}


class SharedLock:
    """Many holders of `shared()` at once, or one of `exclusive()`: forward passes run side by side, while
    Grad-CAM (which hooks a layer: another request's forward pass would go through its hook) runs alone."""

    def __init__(self):
        self._condition = threading.Condition()
        self._sharing = 0
        self._exclusive = False

    @contextmanager
    def shared(self):
        with self._condition:
            self._condition.wait_for(lambda: not self._exclusive)
            self._sharing += 1
        try:
            yield
        finally:
            with self._condition:
                self._sharing -= 1
                self._condition.notify_all()

    @contextmanager
    def exclusive(self):
        with self._condition:
            self._condition.wait_for(lambda: not self._exclusive)
            self._exclusive = True                       # new shared holders wait from now on
            self._condition.wait_for(lambda: self._sharing == 0)
        try:
            yield
        finally:
            with self._condition:
                self._exclusive = False
                self._condition.notify_all()


@dataclass
class Predictor:
    """A loaded checkpoint, safe to use from the server's threads (see SharedLock)."""

    model: Any
    manifest: Manifest
    directory: Path
    lock: SharedLock = field(default_factory=SharedLock, repr=False)

    @property
    def class_names(self) -> list[str]:
        return list(self.manifest.class_names)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """float32 (B, H, W, C) prepared images -> (B, num_classes) logits."""
        with self.lock.shared():
            if self.manifest.framework == "keras":
                return np.asarray(self.model(batch, training=False))
            import torch

            with torch.inference_mode():
                return self.model(torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()).float().numpy()

    def distance(self, image: Image.Image) -> float | None:
        stats = self.manifest.training_stats
        if stats is None:
            return None
        pixels = np.asarray(resize(to_channels(image, stats.channels), stats.height, stats.width), np.uint8)
        return stats.distance(pixels.reshape(stats.height, stats.width, stats.channels))

    def predict(self, image: Image.Image, top_k: int = DEFAULT_TOP_K) -> Prediction:
        logits = self.logits(prepare_image(image, self.manifest.input)[None])[0].astype(np.float64)
        if not np.isfinite(logits).all():
            raise ValueError(f"the model {self.manifest.name!r} returned non-finite scores: its weights are broken")
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        stats = self.manifest.training_stats
        width, height = image.info.get(DECLARED_SIZE, image.size)
        return Prediction(probabilities, self.class_names, check_top_k(top_k), self.distance(image),
                          None if stats is None else stats.threshold,
                          {"width": width, "height": height, "mode": image.mode,
                           "format": image.format or image.info.get("format")})

    def explain(self, image: Image.Image) -> dict:
        """The Grad-CAM answer for the predicted class (shared/interpret/explain.py); GradCamUnavailable when the
        model has no Grad-CAM layer."""
        from shared.interpret.explain import explain
        from shared.interpret.gradcam import GRADCAM_KEY, GradCamUnavailable
        from shared.registry import get_entry

        manifest = self.manifest
        entry = get_entry(manifest.name, manifest.framework, manifest.impl)
        if entry.info.get(GRADCAM_KEY) is None:
            raise GradCamUnavailable(f"Grad-CAM explains convolutional networks, and the registry entry of "
                                     f"{manifest.name} ({manifest.framework}) names no layer for it")
        display = to_channels(image, 3)
        display.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE), Image.Resampling.BILINEAR)
        with self.lock.exclusive():
            return explain(entry, self.model, prepare_image(image, manifest.input), display, self.class_names)


def load_predictor(directory) -> Predictor:
    """Load the checkpoint in `directory`; CheckpointError with a sentence when it cannot be served."""
    model, manifest = load_model(directory)
    return Predictor(model, manifest, Path(directory))
