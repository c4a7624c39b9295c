"""What every benchmark of `python -m bench` shares: the CIFAR-10 held-out split, the machine, the results files.

Held-out split: the CIFAR-10 training folder (50,000 images, `train/<class>/*.jpg`) is loaded with
`shared.data.load_dataset("folder:...")` in its sorted file order; a fixed permutation (numpy seed 0) puts its first
10,000 images in the held-out test set that nothing is tuned on and the other 40,000 in the training set. This is
the split of bench/results/improved_cnn.md since 2026-11-21.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = Path(__file__).resolve().parent / "results"
RAW = RESULTS / "raw"               # one JSON per measurement; summary.md is rebuilt from all of them
DEFAULT_DATA = Path("/tmp/cifar10")
TEST_SIZE = 10_000
SPLIT_SEED = 0
CIFAR10_ARCHIVE = "cifar10-train.tar.gz"


class DataMissing(RuntimeError):
    """The CIFAR-10 folder is not where the benchmark looks; the message says how to put it there."""


@dataclass
class HeldOut:
    """uint8 images (N, 32, 32, 3) and int64 labels of the 40,000 training and 10,000 held-out images."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: list[str]


def check_data(folder: Path) -> Path:
    """`folder` if it holds `train/<class>/` image folders, else DataMissing with the commands that fix it."""
    if (folder / "train").is_dir() and any(p.is_dir() for p in (folder / "train").iterdir()):
        return folder
    raise DataMissing(
        f"no CIFAR-10 image folder at {folder} (expected {folder}/train/<class>/*.jpg, 50,000 images). Unpack the "
        f"training split there, e.g. `mkdir -p {folder} && tar xzf ../shared/datasets/{CIFAR10_ARCHIVE} -C {folder}`, "
        "or pass --data PATH to a folder laid out that way.")


def load_cifar10(folder: Path = DEFAULT_DATA, limit: int | None = None) -> HeldOut:
    """The held-out split described in the module docstring; `limit` keeps the first N training images."""
    from shared.data import load_dataset

    ds = load_dataset(f"folder:{check_data(folder)}", val_fraction=0.0, test_fraction=0.0, progress=False)
    images, labels = ds.train.images, ds.train.labels
    order = np.random.default_rng(SPLIT_SEED).permutation(len(labels))
    test, train = order[:TEST_SIZE], order[TEST_SIZE:][:limit]
    return HeldOut(images[train], labels[train], images[test], labels[test], list(ds.class_names))


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"load average {os.getloadavg()}"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> str:
    """The vector extensions that matter for convolutions (AVX-512 BF16, AMX), from /proc/cpuinfo."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return "unknown"
    wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")
    present = [flag for flag in wanted if f" {flag}" in flags]
    return ", ".join(present) + ("" if "amx_tile" in present else " (no AMX)")


def environment() -> dict:
    """Machine and library versions, for the summary."""
    import torch

    info = {"cpu": cpu_name(), "cpu_flags": cpu_flags(), "cpus": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "numpy": np.__version__, "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}
    for package in ("tensorflow", "keras", "timm"):
        try:
            from importlib.metadata import version
            info[package] = version(package if package != "tensorflow" else "tensorflow-cpu")
        except Exception:  # noqa: BLE001 - a missing package is reported as missing
            try:
                info[package] = version(package)
            except Exception:  # noqa: BLE001
                info[package] = None
    return info


def device() -> str:
    from shared.hardware import training_device_type

    return training_device_type()


def save(name: str, payload: dict) -> Path:
    """Write `payload` (with the time and load) to results/raw/<name>.json atomically; return the path."""
    RAW.mkdir(parents=True, exist_ok=True)
    payload = {"name": name, "written": time.strftime("%Y-%m-%d %H:%M:%S %Z"), **payload}
    path = RAW / f"{name}.json"
    part = path.with_suffix(".json.part")
    part.write_text(json.dumps(payload, indent=1, default=str))
    os.replace(part, path)
    return path


def load_all() -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(RAW.glob("*.json"))}


IJG_LUMINANCE = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
                 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
                 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)   # JPEG standard, Annex K
ZIGZAG = (0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7,
          14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46,
          53, 60, 61, 54, 47, 55, 62, 63)
SUBSAMPLING = {0: "4:4:4 (full colour resolution)", 1: "4:2:2 (colour at half width)",
               2: "4:2:0 (colour at half width and height)"}


def jpeg_quality(table) -> int | None:
    """The libjpeg quality (1-100) whose scaled standard luminance table is closest to `table` (64 values, in
    natural or zigzag order), or None when no quality matches it exactly enough (a custom table)."""
    table = list(table)
    if len(table) != 64:
        return None
    candidates = (table, [table[ZIGZAG.index(i)] for i in range(64)])   # zigzag -> natural order
    best = None
    for quality in range(1, 101):
        scale = 5000 / quality if quality < 50 else 200 - 2 * quality
        scaled = [min(255, max(1, (q * scale + 50) // 100)) for q in IJG_LUMINANCE]
        error = min(sum(abs(a - b) for a, b in zip(scaled, c)) for c in candidates)
        if best is None or error < best[0]:
            best = (error, quality)
    return best[1] if best[0] <= 64 else None


def image_facts(folder: Path = DEFAULT_DATA, sample: int = 500) -> dict:
    """What the image files of the CIFAR-10 folder are: formats, sizes and, for JPEGs, the encoder's quality and
    colour subsampling, read from `sample` files spread over the classes (a lossy copy is not the original data)."""
    from collections import Counter

    from PIL import Image, JpegImagePlugin

    from shared.data.folder import _class_dirs, _list_files   # the loader's own idea of what a folder's files are

    train, unreadable = check_data(folder) / "train", []
    listing = _list_files(train, [d.name for d in _class_dirs(train)], unreadable)
    files = [train.parent / relative for relative, *_ in listing]
    chosen = files[:: max(1, len(files) // sample)][:sample]
    formats, sizes, qualities, subsampling = Counter(), Counter(), Counter(), Counter()
    for path in chosen:
        try:
            with Image.open(path) as image:
                formats[image.format] += 1
                sizes[f"{image.width}x{image.height}"] += 1
                if image.format == "JPEG":
                    tables = getattr(image, "quantization", None) or {}
                    qualities[jpeg_quality(tables.get(0, ())) if tables else None] += 1
                    subsampling[SUBSAMPLING.get(JpegImagePlugin.get_sampling(image), "unknown")] += 1
        except (OSError, ValueError):   # not an image, or a broken one: counted, as the loader skips it
            formats["unreadable"] += 1
    return {"files": len(files), "sampled": len(chosen), "formats": dict(formats), "sizes": dict(sizes),
            "jpeg_quality": {str(k): v for k, v in qualities.items()},
            "jpeg_subsampling": dict(subsampling)}
