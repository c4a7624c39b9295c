"""`shapes`: a procedurally generated 10-class vision task that needs no files.

Each image shows one shape (the label) with a random colour, position, scale and rotation, drawn with soft
(anti-aliased) edges over a textured background, with clutter (thin lines, small dots; some in front of the
shape) and pixel noise. Everything is vectorised with numpy, so thousands of images take well under a second,
and the same (seed, count, image_size) always gives the same pixels.

Shapes are defined by signed distance functions in the shape's own coordinates (about unit radius): negative
inside, positive outside. A pixel's coverage is `clip(0.5 - distance_in_pixels, 0, 1)`, a one-pixel soft edge.
"""
from __future__ import annotations

import numpy as np

CLASS_NAMES = ["circle", "triangle", "square", "hexagon", "star", "cross", "ring", "crescent", "heart", "arrow"]
DEFAULT_SIZE = 10_000      # images in total (train + val + test) when no size is asked for
DEFAULT_IMAGE_SIZE = 32
CHUNK = 1024               # images rendered at once: bounded memory, numpy-sized work per call
SCALE_RANGE = (0.50, 0.75)     # shape radius, as a fraction of half the image side
CLUTTER_SLOTS = 2              # distractors per image at most (lines or dots)
NOISE_RANGE = (0.01, 0.04)     # std of the uniform pixel noise, [0, 1] scale
MIN_CONTRAST = 0.65            # minimum RGB distance between the shape's colour and the local background


# ---- signed distances (shape coordinates u, v; arrays of any shape) ----------------------------------------

def _hypot(a, b):
    return np.sqrt(a * a + b * b)  # np.hypot is several times slower on float32 arrays


def _polygon(u, v, sides: int, radius: float):
    """Regular polygon with circumradius `radius` (distance to the nearest edge line)."""
    r = _hypot(u, v)
    sector = 2 * np.pi / sides
    a = np.mod(np.arctan2(v, u), sector) - sector / 2
    return r * np.cos(a) - radius * np.cos(np.pi / sides)


def _star(u, v, points: int = 5, outer: float = 1.0, inner: float = 0.45):
    r = _hypot(u, v)
    sector = 2 * np.pi / points
    a = np.abs(np.mod(np.arctan2(v, u) + sector / 2, sector) - sector / 2)  # 0 at a tip, sector/2 between
    qx, qy = r * np.cos(a), r * np.sin(a)
    px, py = outer, 0.0                                                  # tip
    ix, iy = inner * np.cos(sector / 2), inner * np.sin(sector / 2)      # inner corner
    nx, ny = iy - py, -(ix - px)                                         # normal pointing away from the centre
    norm = _hypot(nx, ny)
    return ((qx - px) * nx + (qy - py) * ny) / norm


def _box(u, v, half_u: float, half_v: float):
    return np.maximum(np.abs(u) - half_u, np.abs(v) - half_v)


def _heart(u, v):
    x, y = 1.15 * u, 1.15 * v + 0.15
    base = x * x + y * y - 1
    f = base ** 3 - x * x * y ** 3
    fx = 6 * x * base ** 2 - 2 * x * y ** 3
    fy = 6 * y * base ** 2 - 3 * x * x * y * y
    return f / (_hypot(fx, fy) * 1.15 + 1e-3)


def _arrow(u, v):
    shaft = _box(u + 0.35, v, 0.55, 0.17)
    nx, ny = 0.6, 0.8                      # outward normal of the head's edge from (0.9, 0) to (0.1, 0.6)
    edge = (u - 0.9) * nx + np.abs(v) * ny
    head = np.maximum(0.1 - u, edge)
    return np.minimum(shaft, head)


SHAPES = {
    "circle": lambda u, v: _hypot(u, v) - 0.9,
    "triangle": lambda u, v: _polygon(u, v, 3, 1.1),
    "square": lambda u, v: _polygon(u, v, 4, 1.0),
    "hexagon": lambda u, v: _polygon(u, v, 6, 0.95),
    "star": _star,
    "cross": lambda u, v: np.minimum(_box(u, v, 0.95, 0.28), _box(u, v, 0.28, 0.95)),
    "ring": lambda u, v: np.abs(_hypot(u, v) - 0.7) - 0.22,
    "crescent": lambda u, v: np.maximum(_hypot(u, v) - 0.9, 0.72 - _hypot(u - 0.45, v)),
    "heart": _heart,
    "arrow": _arrow,
}


# ---- rendering ----------------------------------------------------------------------------------------------

def _uniform(rng, low: float, high: float, shape) -> np.ndarray:
    """float32 uniform samples: float32 all the way keeps the rendering fast."""
    return np.float32(low) + np.float32(high - low) * rng.random(shape, dtype=np.float32)


def _coverage(distance_px):
    coverage = np.float32(0.5) - distance_px
    return np.clip(coverage, 0.0, 1.0, out=coverage)


def _background(rng, n: int, grid: np.ndarray, image_size: int) -> np.ndarray:
    """Textured backgrounds (n, 3, S, S): a base colour, smooth blotches, stripes and a gradient."""
    x, y = grid
    upsample = _bilinear_matrix(4, image_size)                                    # (S, 4)
    coarse = rng.standard_normal((n, 3, 4, 4), dtype=np.float32)
    coarse *= _uniform(rng, 0.0, 0.08, (n, 1, 1, 1))
    image = upsample @ coarse @ upsample.T                                        # (n, 3, S, S) blotches
    image += _uniform(rng, 0.05, 0.95, (n, 3, 1, 1))                              # base colour
    angle = _uniform(rng, 0, np.pi, (n, 1, 1))
    freq = _uniform(rng, 2.0, 9.0, (n, 1, 1)) * np.float32(np.pi)
    phase = _uniform(rng, 0, 2 * np.pi, (n, 1, 1))
    stripes = np.sin(freq * (x * np.cos(angle) + y * np.sin(angle)) + phase)     # (n, S, S)
    stripe_colour = _uniform(rng, -0.06, 0.06, (n, 3, 1, 1)) * (rng.random((n, 1, 1, 1)) < 0.6)
    image += stripes[:, None] * stripe_colour
    g_angle = _uniform(rng, 0, 2 * np.pi, (n, 1, 1))
    gradient = x * np.cos(g_angle) + y * np.sin(g_angle)                          # (n, S, S)
    image += gradient[:, None] * _uniform(rng, 0, 0.15, (n, 3, 1, 1))
    return image


def _bilinear_matrix(src: int, dst: int) -> np.ndarray:
    """(dst, src) matrix that upsamples a length-`src` signal to `dst` samples by linear interpolation."""
    pos = np.clip((np.arange(dst) + 0.5) * src / dst - 0.5, 0, src - 1)
    low = np.floor(pos).astype(int)
    high = np.minimum(low + 1, src - 1)
    weight = pos - low
    matrix = np.zeros((dst, src), dtype=np.float32)
    matrix[np.arange(dst), low] += 1 - weight
    matrix[np.arange(dst), high] += weight
    return matrix


def _clutter(rng, n: int, grid: np.ndarray, pixels_per_unit: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per slot: coverage (n, 1, S, S) and colour (n, 3, 1, 1) of a thin line or a small dot (or nothing)."""
    x, y = grid
    layers = []
    for _ in range(CLUTTER_SLOTS):
        present = rng.random((n, 1, 1)) < 0.35
        is_line = rng.random((n, 1, 1)) < 0.6
        p0 = _uniform(rng, -1, 1, (2, n, 1, 1))
        delta = _uniform(rng, -0.9, 0.9, (2, n, 1, 1))
        # a dot is a segment of length zero with a larger radius
        delta *= is_line
        radius = np.where(is_line, _uniform(rng, 0.025, 0.05, (n, 1, 1)), _uniform(rng, 0.05, 0.11, (n, 1, 1)))
        colour = _uniform(rng, 0, 1, (n, 3, 1, 1))
        px, py = x - p0[0], y - p0[1]                                             # (n, S, S)
        t = (px * delta[0] + py * delta[1]) / (delta[0] ** 2 + delta[1] ** 2 + 1e-9)
        np.clip(t, 0, 1, out=t)
        px -= t * delta[0]
        py -= t * delta[1]
        distance = _hypot(px, py) - radius
        alpha = _coverage(distance * pixels_per_unit) * present
        layers.append((alpha[:, None], colour))
    return layers


def _render_chunk(rng, labels: np.ndarray, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (n, S, S, 3) images of the shapes named by `labels`, and float32 (n, S, S) the shape's coverage
    (1 inside, 0 outside, soft at the edge; before the clutter drawn in front). Drawn channels-first."""
    n = len(labels)
    centres = (np.arange(image_size, dtype=np.float32) + 0.5) / image_size * 2 - 1
    grid = np.stack(np.meshgrid(centres, centres, indexing="xy"))  # (2, S, S): x to the right, y down
    x, y = grid
    pixels_per_unit = image_size / 2

    scale = _uniform(rng, *SCALE_RANGE, (n, 1, 1))
    reach = 1.0 - 0.8 * scale                      # the shape may touch, but not leave, the frame
    cx = _uniform(rng, -1, 1, (n, 1, 1)) * reach
    cy = _uniform(rng, -1, 1, (n, 1, 1)) * reach
    theta = _uniform(rng, 0, 2 * np.pi, (n, 1, 1))
    colour = _uniform(rng, 0, 1, (n, 3, 1, 1))
    shade = _uniform(rng, -0.05, 0.05, (n, 3, 1, 1))   # a soft highlight across the shape
    noise_std = _uniform(rng, *NOISE_RANGE, (n, 1, 1, 1))

    image = _background(rng, n, grid, image_size)   # (n, 3, S, S)
    clutter = _clutter(rng, n, grid, pixels_per_unit)
    for alpha, c in clutter[:-1]:                  # behind the shape
        _blend(image, alpha, c)

    dx, dy = x - cx, y - cy                         # (n, S, S)
    cos, sin = np.cos(theta), np.sin(theta)
    u = (dx * cos + dy * sin) / scale
    v = (dy * cos - dx * sin) / scale
    distance = np.empty_like(u)
    for index, name in enumerate(CLASS_NAMES):
        rows = labels == index
        if rows.any():
            distance[rows] = SHAPES[name](u[rows], v[rows])
    alpha = _coverage(distance * (scale * pixels_per_unit))[:, None]  # (n, 1, S, S)

    # keep the shape visible: push its colour away from the background under it
    under = (image * alpha).sum(axis=(2, 3), keepdims=True) / np.maximum(alpha.sum(axis=(2, 3), keepdims=True), 1e-6)
    gap = np.sqrt(((colour - under) ** 2).sum(axis=1, keepdims=True))
    colour = np.where(gap < MIN_CONTRAST, np.where(under > 0.5, under - 0.5, under + 0.5), colour)
    fill = colour + shade * (u - v)[:, None]
    _blend(image, alpha, fill)

    front_alpha, front_colour = clutter[-1]
    front_alpha *= rng.random((n, 1, 1, 1)) < 0.5
    _blend(image, front_alpha, front_colour)

    noise = rng.random(image.shape, dtype=np.float32)  # uniform noise: 4x cheaper to draw than Gaussian
    noise -= 0.5
    noise *= noise_std * np.float32(255 * np.sqrt(12))  # so that its std is noise_std
    image *= 255
    image += noise
    image += 0.5
    np.clip(image, 0, 255, out=image)
    return image.astype(np.uint8).transpose(0, 2, 3, 1), alpha[:, 0]


def _blend(image: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> None:
    """image <- image * (1 - alpha) + alpha * colour, in place."""
    layer = colour - image
    layer *= alpha
    image += layer


def generate(count: int, image_size: int = DEFAULT_IMAGE_SIZE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`count` images uint8 (count, S, S, 3) and balanced labels int64 (count,), the same for the same arguments.

    >>> images, labels = generate(20, image_size=32, seed=0)
    >>> images.shape, images.dtype, labels[:5]
    ((20, 32, 32, 3), dtype('uint8'), array([...]))
    """
    images, labels, _ = _generate(count, image_size, seed, with_masks=False)
    return images, labels


def generate_with_masks(count: int, image_size: int = DEFAULT_IMAGE_SIZE,
                        seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`generate(count, image_size, seed)` (the same pixels and labels) and where each shape is drawn:
    float32 masks (count, S, S), the shape's coverage in [0, 1] (a soft one-pixel edge). Grad-CAM tests use it.
    """
    return _generate(count, image_size, seed, with_masks=True)


def _generate(count: int, image_size: int, seed: int, with_masks: bool):
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}.")
    if image_size < 8:
        raise ValueError(f"image_size must be at least 8 pixels to draw a recognisable shape, got {image_size}.")
    rng = np.random.default_rng([seed, count, image_size])
    labels = rng.permutation(np.arange(count) % len(CLASS_NAMES)).astype(np.int64)
    images = np.empty((count, image_size, image_size, 3), dtype=np.uint8)
    masks = np.empty((count, image_size, image_size), dtype=np.float32) if with_masks else None
    for start in range(0, count, CHUNK):
        stop = min(start + CHUNK, count)
        images[start:stop], coverage = _render_chunk(rng, labels[start:stop], image_size)
        if with_masks:
            masks[start:stop] = coverage
    return images, labels, masks
