"""Image files -> pixels: the one decoder shared by the inference API, `workbook predict` and image folders.

    image = open_image(data_or_path)      # a fully decoded PIL image, or BadImage with a status and a sentence
    image = to_channels(image, 3)         # "RGB" (or "L" for 1 channel); transparent pixels become white
    pixels = image_pixels(path, size=32)  # uint8 (32, 32, 3), resized bilinearly

BadImage.status_code sorts the failures the way an HTTP client needs them:
    400 empty, corrupt or truncated          413 too many bytes or pixels
    415 not an image PIL can identify        422 a pixel mode we cannot turn into 8-bit RGB or grey
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_BYTES = 10 * 1024 * 1024   # 10 MiB: far above any photo a classifier needs
MAX_PIXELS = 40_000_000        # width x height; also guards against decompression bombs
CONVERTIBLE_MODES = {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr"}  # 8-bit colour or grey
BACKGROUND = (255, 255, 255)   # what transparent pixels become


class BadImage(ValueError):
    """Not a usable image; `status_code` is the HTTP status an API answers with, `message` a sentence."""

    def __init__(self, status_code: int, message: str):
        super().__init__(message)
        self.status_code, self.message = status_code, message


def _read(source: bytes | str | os.PathLike, max_bytes: int) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source)
    path = Path(source)
    if path.stat().st_size > max_bytes:
        raise BadImage(413, f"{path} is larger than the limit of {max_bytes:,} bytes")
    return path.read_bytes()


def open_image(source: bytes | str | os.PathLike, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS,
               draft: int | None = None) -> Image.Image:
    """Bytes or a file path -> a fully decoded PIL image, or BadImage with the status and a sentence.

    draft: a JPEG much larger than draft x draft is decoded at a reduced scale (fast; the final resize follows).
    """
    data = _read(source, max_bytes)
    if not data:
        raise BadImage(400, "the file is empty: send an image file (PNG, JPEG, ...)")
    if len(data) > max_bytes:
        raise BadImage(413, f"the upload is larger than the limit of {max_bytes:,} bytes")
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise BadImage(415, "not an image this workbook can read (send PNG, JPEG, BMP, GIF, TIFF or WebP)") from None
    if image.width * image.height > max_pixels:
        raise BadImage(413, f"the image is {image.width}x{image.height} pixels, more than the limit of "
                            f"{max_pixels:,} pixels")
    if image.mode not in CONVERTIBLE_MODES:
        raise BadImage(422, f"image mode {image.mode!r} is not supported (for example 16-bit or floating-point "
                            f"pixels): send an 8-bit RGB or greyscale image")
    if draft is not None and image.format == "JPEG":
        image.draft("RGB", (draft, draft))
    try:
        image.load()  # decode now: a truncated file fails here, not inside the model
    except (OSError, Image.DecompressionBombError, SyntaxError, ValueError) as error:
        raise BadImage(400, f"the image file is corrupt or truncated ({error})") from None
    return image


def to_channels(image: Image.Image, channels: int = 3) -> Image.Image:
    """An "RGB" image (channels=3) or an "L" one (channels=1); transparent pixels are put on white first."""
    if image.mode in ("RGBA", "LA", "PA", "RGBa") or (image.mode == "P" and "transparency" in image.info):
        background = Image.new("RGBA", image.size, BACKGROUND + (255,))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return image.convert("L" if channels == 1 else "RGB")


def resize(image: Image.Image, height: int, width: int) -> Image.Image:
    """Bilinear resize to (height, width): the one resampling used for training data and for serving."""
    return image.resize((width, height), Image.Resampling.BILINEAR)


def image_pixels(source: bytes | str | os.PathLike, size: int | None = None, channels: int = 3) -> np.ndarray:
    """uint8 (H, W, channels) pixels of an image file, resized to size x size when `size` is given."""
    image = to_channels(open_image(source, draft=size), channels)
    if size is not None:
        image = resize(image, size, size)
    return np.asarray(image, dtype=np.uint8).reshape(image.height, image.width, channels)
