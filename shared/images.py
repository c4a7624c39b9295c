"""Image files -> pixels: the one decoder shared by the inference API, `workbook predict` and image folders.

    image = open_image(data_or_path)      # a fully decoded PIL image, or BadImage with a status and a sentence
    image = to_channels(image, 3)         # "RGB" (or "L" for 1 channel); transparent pixels become white
    pixels = image_pixels(path, size=32)  # uint8 (32, 32, 3), resized bilinearly

Nothing a file says is trusted before it is checked, and every failure is a BadImage whose status_code sorts it
the way an HTTP client needs it:
    400 empty, corrupt or truncated (any error of a decoder)   413 too many bytes, pixels or bytes of PNG text
    415 not an image, or a format not in FORMATS               422 a pixel mode we cannot turn into 8-bit RGB or grey
The checks, in order: the file's size; for a PNG, its text chunks (zTXt/iTXt are inflated with a budget, so a
48 KB file cannot become 50 MB of text); the format, from the file's first bytes, among FORMATS only (no EPS
and its Ghostscript, no exotic plugins); the declared canvas (width x height, read from the header before any
pixel is decoded: max_pixels); the pixel mode; then the first frame is decoded (an animation is read as its
first frame, so frames cannot multiply the work) and its size is checked again.
Pillow's own guard (Image.MAX_IMAGE_PIXELS, a global) is left as it is: our limit is far below it, so an image it
warns about (DecompressionBombWarning) is refused by ours, and one it refuses (DecompressionBombError) is a 413.
"""
from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_BYTES = 10 * 1024 * 1024   # 10 MiB: far above any photo a classifier needs
MAX_PIXELS = 40_000_000        # width x height of the canvas, checked before decoding: about 120 MB of RGB
MAX_TEXT_BYTES = 1024 * 1024   # PNG text chunks (tEXt, zTXt, iTXt), inflated, in total
MAX_PNG_CHUNKS = 10_000        # PNG chunks other than image data: metadata, not pixels
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM")   # what Pillow may try (JPEG includes MPO)
CONVERTIBLE_MODES = {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr"}  # 8-bit colour or grey
BACKGROUND = (255, 255, 255)   # what transparent pixels become
DECLARED_SIZE = "workbook_declared_size"   # image.info key: (width, height) in the file, before any JPEG draft
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
UNREADABLE = "not an image this workbook can read (send PNG, JPEG, BMP, GIF, TIFF or WebP)"


class BadImage(ValueError):
    """Not a usable image; `status_code` is the HTTP status an API answers with, `message` a sentence."""

    def __init__(self, status_code: int, message: str):
        super().__init__(message)
        self.status_code, self.message = status_code, message


def _read(source: bytes | str | os.PathLike, max_bytes: int) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    path = Path(source)
    try:
        if path.stat().st_size > max_bytes:
            raise BadImage(413, f"the file is larger than the limit of {max_bytes:,} bytes")
        return path.read_bytes()
    except OSError as error:
        raise BadImage(400, f"the file cannot be read ({error.strerror or error})") from None


def _inflated_size(compressed: bytes, budget: int) -> int:
    """How many bytes `compressed` (zlib) inflates to, counting no further than budget + 1."""
    try:
        return len(zlib.decompressobj().decompress(compressed, budget + 1))
    except zlib.error:
        return 0   # not valid zlib: Pillow skips such a chunk


def _text_size(kind: bytes, body: bytes, budget: int) -> int:
    if kind == b"tEXt":
        return len(body)
    keyword, _, rest = body.partition(b"\0")
    if kind == b"zTXt":
        return len(keyword) + _inflated_size(rest[1:], budget)
    if len(rest) < 2 or rest[0] == 0:      # iTXt, uncompressed
        return len(body)
    return len(keyword) + _inflated_size(rest[2:].split(b"\0", 2)[-1], budget)


def check_png_chunks(data: bytes, max_text: int = MAX_TEXT_BYTES, max_chunks: int = MAX_PNG_CHUNKS) -> None:
    """BadImage(413) when a PNG's text chunks inflate to more than `max_text` bytes in total, or when it has
    more than `max_chunks` chunks besides its image data. Walks the chunk list only (nothing is decoded)."""
    position, text, chunks = len(PNG_SIGNATURE), 0, 0
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            text += _text_size(kind, data[position + 8:position + 8 + length], max_text - text)
            if text > max_text:
                raise BadImage(413, f"the PNG carries more than {max_text:,} bytes of text (inflated): "
                                    f"send the image without its metadata")
        if kind not in (b"IDAT", b"fdAT"):
            chunks += 1
            if chunks > max_chunks:
                raise BadImage(413, f"the PNG has more than {max_chunks:,} metadata chunks")
        if kind == b"IEND":
            return
        position += 12 + length


def _identify(data: bytes, max_pixels: int) -> Image.Image:
    """Pillow's header parse (no pixels decoded), among FORMATS only; BadImage for anything it refuses."""
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError:
        raise BadImage(415, UNREADABLE) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):   # the warning, when raised as error
        raise BadImage(413, f"the image declares more than {max_pixels:,} pixels") from None
    except Exception as error:  # noqa: BLE001 — a header no decoder expected: bad input, not a server fault
        raise BadImage(400, f"the image header is corrupt ({_reason(error)})") from None
    return image


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _check_canvas(image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width < 1 or height < 1:
        raise BadImage(400, f"the image declares a size of {width}x{height} pixels")
    if width * height > max_pixels:
        raise BadImage(413, f"the image is {width}x{height} pixels, more than the limit of {max_pixels:,} pixels")


def open_image(source: bytes | str | os.PathLike, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS,
               draft: int | None = None, channels: int | None = None) -> Image.Image:
    """Bytes or a file path -> a fully decoded PIL image, or BadImage with the status and a sentence.

    draft: a JPEG much larger than draft x draft is decoded at a reduced scale (fast; the final resize follows);
           image.info[DECLARED_SIZE] keeps the (width, height) the file declares.
    channels: also convert to "RGB" (3) or "L" (1) inside the same guard (see to_channels).
    """
    data = _read(source, max_bytes)
    if not data:
        raise BadImage(400, "the file is empty: send an image file (PNG, JPEG, ...)")
    if len(data) > max_bytes:
        raise BadImage(413, f"the upload is larger than the limit of {max_bytes:,} bytes")
    if data.startswith(PNG_SIGNATURE):
        check_png_chunks(data)
    image = _identify(data, max_pixels)
    _check_canvas(image, max_pixels)
    if image.mode not in CONVERTIBLE_MODES:
        raise BadImage(422, f"image mode {image.mode!r} is not supported (for example 16-bit or floating-point "
                            f"pixels): send an 8-bit RGB or greyscale image")
    declared = image.size
    try:
        if draft is not None and image.format in ("JPEG", "MPO"):
            image.draft("RGB", (draft, draft))
        image.load()  # decode now: a truncated file fails here, not inside the model
        _check_canvas(image, max_pixels)   # a format may grow its canvas while decoding
        if image.mode not in CONVERTIBLE_MODES:
            raise BadImage(422, f"image mode {image.mode!r} is not supported: send an 8-bit RGB or greyscale image")
        image = image if channels is None else to_channels(image, channels)
        image.info[DECLARED_SIZE] = declared
        return image
    except BadImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BadImage(413, f"the image declares more than {max_pixels:,} pixels") from None
    except Exception as error:  # noqa: BLE001 — every decoder failure (OSError, SyntaxError, struct.error, ...)
        raise BadImage(400, f"the image file is corrupt or truncated ({_reason(error)})") from None


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
    image = open_image(source, draft=size, channels=channels)
    if size is not None:
        image = resize(image, size, size)
    return np.asarray(image, dtype=np.uint8).reshape(image.height, image.width, channels)
