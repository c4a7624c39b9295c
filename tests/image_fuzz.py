"""Malformed image files for the decoder and the API: truncations, flipped bytes, bombs, odd modes and sizes.

    from tests.image_fuzz import malformed_uploads
    for name, data in malformed_uploads(seed=0):     # about 280 (name, bytes), the same for the same seed
        ...

Every file is made here, from numpy and Pillow, with a seeded generator: no files on disk, no network.
- `valid`:     small images in every format the workbook reads, in odd modes (1, L, LA, P with transparency,
               RGBA, CMYK, I;16, I, F) and odd sizes (1x1, 1x700, 700x1);
- `truncated`: each valid file cut at a random point, in its header, and a few bytes before its end;
- `flipped`:   1-4 random bytes changed in the header (first 64 bytes, three times), or one anywhere;
- `bomb`:      headers declaring enormous canvases (PNG, GIF screen and frame, BMP, JPEG, WebP, TIFF) across
               every band of sizes (above our limit, above Pillow's warning, above Pillow's error), a real
               20000x20000 PNG of 48 KB, PNG text chunks inflating to 60 MB, a PNG of 20,000 tiny chunks (and
               one valid 5000x5000 PNG, the largest decode allowed, to see the memory it takes);
- `garbage`:   random bytes behind each format's magic number, and empty or one-byte files.
"""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

PNG = b"\x89PNG\r\n\x1a\n"
HUGE_SIDES = [(7_000, 7_000), (10_000, 10_000), (20_000, 20_000), (65_535, 65_535), (1, 60_000_000 // 1)]


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _pixels(rng, height: int, width: int, channels: int = 3) -> np.ndarray:
    return rng.integers(0, 256, (height, width, channels), dtype=np.uint8)


def valid_images(rng) -> list[tuple[str, bytes]]:
    rgb = Image.fromarray(_pixels(rng, 24, 20))
    files = [(f"valid.{fmt.lower()}", _save(rgb, fmt)) for fmt in ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM")]
    files += [(f"valid-{mode}.png", _save(rgb.convert(mode), "PNG")) for mode in ("1", "L", "LA", "RGBA", "P")]
    palette = rgb.convert("P")
    files.append(("valid-P-transparent.png", _save(palette, "PNG", transparency=3)))
    files.append(("valid-LA.tiff", _save(rgb.convert("LA"), "TIFF")))
    files.append(("valid-CMYK.jpg", _save(rgb.convert("CMYK"), "JPEG")))
    files.append(("valid-CMYK.tiff", _save(rgb.convert("CMYK"), "TIFF")))
    files.append(("valid-lossless.webp", _save(rgb, "WEBP", lossless=True)))
    files.append(("valid-progressive.jpg", _save(rgb, "JPEG", progressive=True)))
    files.append(("valid-deflate.tiff", _save(rgb, "TIFF", compression="tiff_deflate")))
    files.append(("mode-I16.png", _save(Image.fromarray(np.full((8, 8), 40_000, np.uint16)), "PNG")))
    files.append(("mode-I.tiff", _save(Image.fromarray(np.full((8, 8), 7, np.int32)), "TIFF")))
    files.append(("mode-F.tiff", _save(Image.fromarray(np.full((8, 8), 0.5, np.float32)), "TIFF")))
    for height, width in ((1, 1), (1, 700), (700, 1)):
        files.append((f"size-{height}x{width}.png", _save(Image.fromarray(_pixels(rng, height, width)), "PNG")))
    frames = [Image.fromarray(_pixels(rng, 16, 16)) for _ in range(3)]
    files.append(("animated.gif", _save(frames[0], "GIF", save_all=True, append_images=frames[1:])))
    files.append(("animated.png", _save(frames[0], "PNG", save_all=True, append_images=frames[1:])))
    files.append(("animated.webp", _save(frames[0], "WEBP", save_all=True, append_images=frames[1:])))
    return files


def truncated(rng, files) -> list[tuple[str, bytes]]:
    cuts = []
    for name, data in files:
        cuts.append((f"truncated-header-{name}", data[: int(rng.integers(1, min(len(data), 40)))]))
        cuts.append((f"truncated-{name}", data[: int(rng.integers(len(data) // 4, len(data) - 1))]))
        cuts.append((f"truncated-tail-{name}", data[:-int(rng.integers(1, 8))]))
    return cuts


def flipped(rng, files) -> list[tuple[str, bytes]]:
    out = []
    for name, data in files:
        for variant in range(4):
            raw = bytearray(data)
            where = min(len(raw), 64) if variant < 3 else len(raw)
            for _ in range(int(rng.integers(1, 5)) if variant < 3 else 1):
                raw[int(rng.integers(0, where))] = int(rng.integers(0, 256))
            out.append((f"flipped{variant}-{name}", bytes(raw)))
    return out


# ------------------------------------------------------------------------------------------------- bombs
def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_declaring(width: int, height: int, mode_bits: tuple[int, int] = (8, 0), rows: bytes | None = None) -> bytes:
    """A PNG whose header says width x height; its data: `rows` (zlib), or one short row."""
    depth, colour = mode_bits
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    data = rows if rows is not None else zlib.compress(b"\0" * 64)
    return PNG + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def real_png_bomb(side: int = 20_000) -> bytes:
    """A genuine side x side 1-bit PNG of zeros: ~48 KB that decodes to side * side pixels."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + (side + 7) // 8)
    body = b"".join(compressor.compress(row * 1000) for _ in range(side // 1000)) + compressor.flush()
    return png_declaring(side, side, (1, 0), body)


def png_text_bomb(chunks: int = 60, size: int = 1_000_000) -> bytes:
    small = _save(Image.new("RGB", (4, 4)), "PNG")
    text = b"".join(_chunk(b"zTXt", b"comment\0\0" + zlib.compress(b"A" * size, 9)) for _ in range(chunks))
    itxt = _chunk(b"iTXt", b"note\0\1\0\0\0" + zlib.compress(b"B" * size, 9))
    return small[:33] + text + itxt + small[33:]


def png_many_chunks(count: int = 20_000) -> bytes:
    small = _save(Image.new("RGB", (4, 4)), "PNG")
    return small[:33] + _chunk(b"tEXt", b"k\0v") * count + small[33:]


def gif_declaring(width: int, height: int, frame: tuple[int, int, int, int] = (0, 0, 1, 1)) -> bytes:
    x, y, w, h = frame
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    image = b"," + struct.pack("<HHHHB", x, y, w, h, 0) + b"\x02\x02\x44\x01\x00"
    return screen + image + b";"


def bmp_declaring(width: int, height: int) -> bytes:
    raw = bytearray(_save(Image.new("RGB", (4, 4)), "BMP"))
    raw[18:26] = struct.pack("<ii", width, height)
    return bytes(raw)


def jpeg_declaring(width: int, height: int) -> bytes:
    raw = bytearray(_save(Image.new("RGB", (8, 8)), "JPEG"))
    sof = raw.index(b"\xff\xc0")
    raw[sof + 5:sof + 9] = struct.pack(">HH", min(height, 65_535), min(width, 65_535))
    return bytes(raw)


def webp_declaring(width: int, height: int) -> bytes:
    """A lossless WebP (VP8L) whose 14-bit sizes say width x height (at most 16384 each)."""
    raw = bytearray(_save(Image.new("RGB", (4, 4)), "WEBP", lossless=True))
    start = raw.index(b"VP8L") + 8 + 1
    bits = ((min(width, 16_384) - 1) & 0x3FFF) | (((min(height, 16_384) - 1) & 0x3FFF) << 14)
    raw[start:start + 4] = struct.pack("<I", bits | (struct.unpack("<I", raw[start:start + 4])[0] & ~0xFFFFFFF))
    return bytes(raw)


def tiff_declaring(width: int, height: int) -> bytes:
    """A little-endian TIFF: one 8-bit grey strip of 16 bytes, whatever width x height says."""
    tags = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 0),
            (277, 3, 1), (278, 4, height), (279, 4, 16)]
    ifd_size = 2 + 12 * len(tags) + 4
    data_offset = 8 + ifd_size
    entries = b"".join(struct.pack("<HHII", tag, kind, 1, data_offset if tag == 273 else value)
                       for tag, kind, value in tags)
    return b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", len(tags)) + entries + b"\0\0\0\0" + b"\x80" * 16


def large_valid_png(side: int = 5_000) -> bytes:
    """A valid side x side grey PNG under every limit (25 M pixels): the largest decode the server must do."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + side)
    body = b"".join(compressor.compress(row * 500) for _ in range(side // 500)) + compressor.flush()
    return png_declaring(side, side, (8, 0), body)


def bombs() -> list[tuple[str, bytes]]:
    files = [("valid-large-5000x5000.png", large_valid_png()), ("bomb-real-20000x20000.png", real_png_bomb()),
             ("bomb-text-60MB.png", png_text_bomb()),
             ("bomb-20000-chunks.png", png_many_chunks()),
             ("bomb-gif-frame-outside.gif", gif_declaring(16, 16, (60_000, 60_000, 5_000, 5_000))),
             ("bomb-bmp-top-down.bmp", bmp_declaring(50_000, -50_000)),
             ("bomb-zero-width.png", png_declaring(0, 10)), ("bomb-zero-height.gif", gif_declaring(10, 0))]
    for width, height in HUGE_SIDES:
        size = f"{width}x{height}"
        files += [(f"bomb-{size}.png", png_declaring(width, height)),
                  (f"bomb-{size}.gif", gif_declaring(min(width, 65_535), min(height, 65_535))),
                  (f"bomb-{size}.bmp", bmp_declaring(width, height)),
                  (f"bomb-{size}.jpg", jpeg_declaring(width, height)),
                  (f"bomb-{size}.webp", webp_declaring(width, height)),
                  (f"bomb-{size}.tiff", tiff_declaring(width, height))]
    return files


def garbage(rng) -> list[tuple[str, bytes]]:
    magics = {"png": PNG, "jpg": b"\xff\xd8\xff\xe0", "gif": b"GIF89a", "bmp": b"BM", "tiff": b"II*\0",
              "webp": b"RIFF\0\0\0\0WEBPVP8 ", "ppm": b"P6\n", "eps": b"%!PS-Adobe-3.0 EPSF-3.0\n",
              "psd": b"8BPS", "ico": b"\0\0\1\0"}
    files = [(f"garbage.{ext}", magic + rng.integers(0, 256, int(rng.integers(1, 400)), dtype=np.uint8).tobytes())
             for ext, magic in magics.items()]
    files += [("empty.png", b""), ("one-byte.png", b"\x89"), ("text.png", b"this is not an image at all"),
              ("html.png", b"<html><body>hello</body></html>"),
              ("random.bin", rng.integers(0, 256, 5_000, dtype=np.uint8).tobytes())]
    return files


def malformed_uploads(seed: int = 0) -> list[tuple[str, bytes]]:
    """About 280 (name, bytes): valid odd images, their truncations and flips, bombs and garbage."""
    rng = np.random.default_rng(seed)
    valid = valid_images(rng)
    return [*valid, *truncated(rng, valid), *flipped(rng, valid), *bombs(), *garbage(rng)]


# ------------------------------------------------------------------------------------------------ a server
def rss_mb(pid: int) -> float:
    """Resident memory of a process (Linux /proc), in MB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def post_all(url: str, uploads, timeout: float = 60) -> list[tuple[str, int, object]]:
    """POST each (name, bytes) to url/predict; [(name, status, detail or None)]. A connection error is status 0."""
    import httpx

    answers = []
    with httpx.Client(timeout=timeout) as client:
        for name, data in uploads:
            try:
                response = client.post(f"{url}/predict", files={"file": (name, data, "application/octet-stream")})
            except httpx.HTTPError as error:
                answers.append((name, 0, f"{type(error).__name__}: {error}"))
                continue
            try:
                detail = response.json().get("detail") if response.status_code != 200 else None
            except ValueError:
                detail = response.text[:200]
            answers.append((name, response.status_code, detail))
    return answers


def fuzz_server(url: str, pid: int, uploads, warmup: bytes, passes: int = 2) -> dict:
    """Send `warmup` 20 times, then every upload `passes` times; the statuses and the server's RSS after each."""
    post_all(url, [("warmup.png", warmup)] * 20)
    memory = [rss_mb(pid)]
    answers = []
    for _ in range(passes):
        answers += post_all(url, uploads)
        memory.append(rss_mb(pid))
    return {"answers": answers, "rss_mb": memory}
