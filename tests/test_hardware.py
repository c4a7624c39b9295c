"""bf16 autocast only where the hardware has bf16 units (shared/hardware.py), and recipe statements that say which."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared import hardware

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json
from shared.hardware import native_bf16
from shared.registry import get_entry
from solutions.week3.improved_cnn import RecipeConfig
from solutions.week4.cached_transfer import CachedConfig
print(json.dumps({"native": native_bf16(), "recipe": RecipeConfig().bf16, "cached": CachedConfig().bf16,
                  "resnet_other": get_entry("resnet_cnn", "torch").info["recipe"]["other"],
                  "lite0_other": get_entry("transfer_lite0", "torch").info["recipe"]["other"]}))
"""


def probe(bf16: str) -> dict:
    env = {**os.environ, "WORKBOOK_BF16": bf16}
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("flag, expected", [("0", False), ("1", True)])
def test_override_reaches_the_recipes_and_their_statements(flag, expected):
    seen = probe(flag)
    assert seen["native"] is expected and seen["recipe"] is expected and seen["cached"] is expected, seen
    word = "bf16 autocast" if expected else "float32"
    assert f"whitening conv, {word}, channels_last" in seen["resnet_other"], seen["resnet_other"]
    assert f"frozen pass in {word}" in seen["lite0_other"], seen["lite0_other"]


def test_cpu_check_follows_the_instruction_sets(monkeypatch):
    """No bf16 units (an AVX2-only CPU): no bf16; AVX-512 BF16 or AMX: bf16."""
    monkeypatch.delenv("WORKBOOK_BF16", raising=False)
    monkeypatch.setattr(hardware.platform, "machine", lambda: "x86_64")
    for avx512_bf16, amx, expected in ((False, False, False), (True, False, True), (False, True, True)):
        hardware.native_bf16.cache_clear()
        monkeypatch.setattr(hardware.torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512_bf16: v, raising=False)
        monkeypatch.setattr(hardware.torch.cpu, "_is_amx_tile_supported", lambda v=amx: v, raising=False)
        assert hardware.native_bf16("cpu") is expected, (avx512_bf16, amx)
    hardware.native_bf16.cache_clear()
