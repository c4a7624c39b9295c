"""A Grad-CAM heatmap drawn over its image, as a PNG (for the report and the demo page).

    png = overlay_png(image, cam.heatmap)     # image: uint8 (H, W, 3) or a PIL image, any size
    url = data_url(png)                       # "data:image/png;base64,..." for an <img src>

The heatmap is resized to the image (bilinear), coloured with a matplotlib colormap and blended with a per-pixel
opacity that grows with the heat: where the model found no evidence the image shows through unchanged. Small
images (32 x 32 shapes) are first enlarged by a whole factor with nearest-neighbour, so their pixels stay sharp
and the heatmap is drawn smoothly over them.
"""
from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from shared.interpret.gradcam import resize

COLORMAP = "jet"        # keras-io's choice: blue (cold) -> red (hot), familiar from the Grad-CAM papers
MAX_OPACITY = 0.6       # the opacity of the hottest pixels; the coldest are transparent
MIN_SIDE = 224          # smaller images are enlarged to at least this side, by a whole factor


def _as_rgb(image) -> np.ndarray:
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    image = np.asarray(image)
    if image.ndim == 2 or (image.ndim == 3 and image.shape[-1] == 1):
        image = np.repeat(image.reshape(*image.shape[:2], 1), 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image (H, W, 3) or (H, W), got {image.dtype} {image.shape}")
    return image


def enlarge(image: np.ndarray, min_side: int = MIN_SIDE) -> np.ndarray:
    """Repeat each pixel by the smallest whole factor that brings the shorter side to `min_side` (or leave it)."""
    factor = max(1, -(-min_side // min(image.shape[:2])))
    return image.repeat(factor, axis=0).repeat(factor, axis=1) if factor > 1 else image


def overlay(image, heatmap: np.ndarray, colormap: str = COLORMAP, max_opacity: float = MAX_OPACITY,
            min_side: int = MIN_SIDE) -> np.ndarray:
    """uint8 (H', W', 3): `image` (enlarged to `min_side`) with `heatmap` (h, w) in [0, 1] coloured over it."""
    import matplotlib

    heatmap = np.asarray(heatmap, dtype=np.float32)
    if heatmap.ndim != 2 or not np.isfinite(heatmap).all() or heatmap.min() < 0 or heatmap.max() > 1:
        raise ValueError(f"heatmap must be a finite (h, w) array in [0, 1], got shape {heatmap.shape}")
    pixels = enlarge(_as_rgb(image), min_side).astype(np.float32)
    heat = np.clip(resize(heatmap, pixels.shape[:2]), 0, 1)                   # (H', W')
    colours = matplotlib.colormaps[colormap](heat)[..., :3] * 255            # (H', W', 3)
    opacity = (max_opacity * heat)[..., None]
    return np.round(pixels * (1 - opacity) + colours * opacity).astype(np.uint8)


def overlay_png(image, heatmap: np.ndarray, **options) -> bytes:
    """The overlay as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(overlay(image, heatmap, **options)).save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
