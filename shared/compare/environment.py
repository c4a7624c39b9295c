"""The environment a result was measured in: library versions, CPU/GPU, threads, seed (saved with every run)."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import sys

PACKAGES = ("torch", "torchvision", "tensorflow-cpu", "tensorflow", "keras", "numpy", "scikit-learn", "timm")


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _versions() -> dict[str, str]:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _gpu() -> str | None:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def environment(seed: int) -> dict:
    import torch

    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    return {"python": sys.version.split()[0], "platform": platform.platform(), "cpu": _cpu_name(),
            "cpu_count": os.cpu_count(), "gpu": _gpu(), "torch_threads": torch.get_num_threads(),
            "load_average_1min": load, "packages": _versions(), "seed": seed}
