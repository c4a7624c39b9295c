"""`python -m bench`: without the CIFAR-10 folder it says where to put it; the summary and plots are rebuilt from
whatever results exist (here: synthetic ones), goals marked met or by how far they are missed."""
from __future__ import annotations

import json

import pytest

from bench import __main__ as bench_main
from bench import common, summary


def test_without_data_it_says_where_to_put_it(tmp_path, capsys):
    assert bench_main.main(["--only", "improved_cnn", "--data", str(tmp_path / "nowhere")]) == 2
    error = capsys.readouterr().err
    assert str(tmp_path / "nowhere") in error and "train/<class>" in error and "tar xzf" in error


def test_unknown_part_is_refused():
    with pytest.raises(ValueError, match="unknown part"):
        bench_main.run_part("imagenet", common.DEFAULT_DATA)


def _scratch(accuracies, seconds):
    runs = [{"seed": i, "train_s": seconds, "images_per_s": 900.0, "test_acc": a,
             "test_acc_by_tta": {"plain": a - 0.01, "mirror": a - 0.005, "multicrop": a},
             "curve": [{"epoch": 1, "train_s": seconds / 2, "test_acc": a - 0.1},
                       {"epoch": 2, "train_s": seconds, "test_acc": a, "final": True}]}
            for i, a in enumerate(accuracies)]
    return {"recipe": "week 3", "config": {"widths": [64, 128, 128]}, "epochs": 10, "runs": runs,
            "test_acc_mean": sum(accuracies) / len(accuracies), "train_s_mean": seconds,
            "train_flops_per_image": 3e8, "load_before": "load 1.0", "load_after": "load 2.0",
            "environment": {"cpu": "test cpu", "torch": "x"}}


def test_summary_marks_goals_and_writes_plots(tmp_path, monkeypatch):
    monkeypatch.setattr(summary, "RESULTS", tmp_path)
    results = {
        "improved_cnn": _scratch([0.905, 0.902, 0.91], 470.0),
        "improved_cnn_long": _scratch([0.935], 1500.0),
        "conv_peak": {"rows": [{"device": "cpu", "dtype": "bf16", "threads": 2, "conv_gflops": 400.0,
                                "matmul_gflops": 380.0}],
                      "shape": {"batch": 256, "channels": 128, "size": 16}, "load_before": "l", "load_after": "l",
                      "environment": {"cpu_flags": "avx512_bf16"}},
    }
    transfer = _scratch([0.925], 1300.0)
    transfer.update(size=128, probe_acc_mean=0.83)
    for run in transfer["runs"]:
        run.update(cache_s=300.0, probe_s=10.0, top_s=990.0, probe_acc=0.83)
    results["transfer"] = transfer
    path = summary.write(results)
    text = path.read_text()
    assert "| **met** |" in text                                        # 90.57 % in 470 s
    assert "time to 93 %" in text and "25.0 min (improved_cnn_long)" in text
    assert "0.50 points short" in text and "1.08x the time" in text     # transfer: 92.5 % in 1300 s
    assert "2.00 points short" in text                                  # linear probe 83 % of 85 %
    assert (tmp_path / "time_to_accuracy.png").read_bytes()[:4] == b"\x89PNG"
    assert "![time to accuracy](time_to_accuracy.png)" in text
    json.dumps(results)  # what the benchmarks save is plain JSON
