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
