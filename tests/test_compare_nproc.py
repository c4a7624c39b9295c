"""`workbook compare --nproc N`: a PyTorch row trained by N data-parallel processes takes the same steps as one
process with the same global batch, and results.json says how it ran."""
from __future__ import annotations

import pytest
import torch

from shared.checkpoints import load_model
from shared.compare.config import CompareConfig
from shared.compare.measure import run_row
from shared.compare.plan import RowSpec
from shared.data import load_dataset
from shared.registry import get_entry


def _row(tmp_path, nproc: int, name: str = "lstm", framework: str = "torch"):
    dataset = load_dataset("shapes", size=120, image_size=16, seed=0)
    config = CompareConfig(size=120, epochs=1, latency_repeats=1, progress=False, nproc=nproc, batch_size=16)
    spec = RowSpec(name, framework, "reference", get_entry(name, framework))
    outcome = run_row(spec, dataset, config, tmp_path / f"n{nproc}")
    assert outcome.row["status"] == "ok", outcome.row.get("reason")
    return outcome.row, tmp_path / f"n{nproc}"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_ranks_take_the_steps_of_one_process(tmp_path):
    """The LSTM has no BatchNorm, so 2 ranks with 8 images each equal 1 process with 16, to float rounding."""
    single, single_dir = _row(tmp_path, 1)
    double, double_dir = _row(tmp_path, 2)
    assert single["parallel"] == {"world_size": 1, "per_rank_batch": 16, "effective_batch": 16, "backend": None}
    assert double["parallel"] == {"world_size": 2, "per_rank_batch": 8, "effective_batch": 16, "backend": "gloo"}
    one, _ = load_model(single_dir / "checkpoints" / "lstm-torch-reference")
    two, _ = load_model(double_dir / "checkpoints" / "lstm-torch-reference")
    for (name, a), b in zip(one.state_dict().items(), two.state_dict().values()):
        assert torch.allclose(a, b, atol=2e-5), f"{name}: max difference {(a - b).abs().max():.3g}"
    assert double["history"]["val_acc"] == pytest.approx(single["history"]["val_acc"], abs=1e-6)


def test_rows_that_cannot_run_data_parallel_say_so(tmp_path):
    row, _ = _row(tmp_path, 2, "cnn", "keras")
    assert row["parallel"]["world_size"] == 1 and "one process" in row["parallel"]["note"]
