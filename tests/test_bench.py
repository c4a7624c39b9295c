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
    transfer.update(size=128, probe_acc_mean=0.83, config={"top_blocks": 3}, epochs=[7.5])
    for run in transfer["runs"]:
        run.update(cache_s=300.0, probe_s=10.0, top_s=990.0, probe_acc=0.83)
    results["transfer"] = transfer
    path = summary.write(results)
    text = path.read_text()
    assert "| **met** |" in text                                        # 90.57 % in 470 s
    assert "time to 93 %" in text and "25.0 min (improved_cnn_long)" in text
    assert "0.50 points short" in text and "1.08x the time" in text     # transfer: 92.5 % in 1300 s
    assert "2.00 points short" in text                                  # linear probe 83 % of 85 %
    assert "| transfer | 128 | 3 | 7.5 | 1 | 300 | 10 | 990 |" in text   # size, top blocks, epochs, seeds, times
    assert (tmp_path / "time_to_accuracy.png").read_bytes()[:4] == b"\x89PNG"
    assert "![time to accuracy](time_to_accuracy.png)" in text
    json.dumps(results)  # what the benchmarks save is plain JSON


@pytest.mark.parametrize("quality", [20, 50, 75, 95])
def test_jpeg_quality_is_read_back_from_the_files_tables(tmp_path, quality):
    from PIL import Image

    path = tmp_path / "x.jpg"
    Image.new("RGB", (32, 32), (120, 30, 200)).save(path, quality=quality)
    with Image.open(path) as image:
        assert common.jpeg_quality(image.quantization[0]) == quality
    assert common.jpeg_quality([3] * 64) is None          # a custom table is no libjpeg quality
    assert common.jpeg_quality([]) is None


def test_image_facts_count_formats_quality_and_subsampling(tmp_path):
    from PIL import Image

    image = Image.new("RGB", (32, 32), (10, 200, 30))
    for cls, kwargs in (("cat", {"quality": 75, "subsampling": 2}), ("dog", {"quality": 90, "subsampling": 0})):
        (tmp_path / "train" / cls).mkdir(parents=True)
        for i in range(3):
            image.save(tmp_path / "train" / cls / f"{i}.jpg", **kwargs)
    image.save(tmp_path / "train" / "dog" / "lossless.png")
    facts = common.image_facts(tmp_path, sample=100)
    assert facts["files"] == facts["sampled"] == 7
    assert facts["formats"] == {"JPEG": 6, "PNG": 1} and facts["sizes"] == {"32x32": 7}
    assert facts["jpeg_quality"] == {"75": 3, "90": 3}
    assert set(facts["jpeg_subsampling"]) == {common.SUBSAMPLING[2], common.SUBSAMPLING[0]}


def test_image_facts_count_a_broken_file_and_skip_hidden_ones(tmp_path):
    from PIL import Image

    (tmp_path / "train" / "cat").mkdir(parents=True)
    Image.new("RGB", (32, 32)).save(tmp_path / "train" / "cat" / "good.jpg")
    (tmp_path / "train" / "cat" / "broken.jpg").write_bytes(b"\xff\xd8 not really a JPEG")
    (tmp_path / "train" / "cat" / ".DS_Store").write_bytes(b"\x00\x01")
    facts = common.image_facts(tmp_path, sample=100)
    assert facts["files"] == 2 and facts["formats"] == {"JPEG": 1, "unreadable": 1}


def test_machine_labels_follow_the_vector_units():
    avx512 = {"cpu_flags": "avx2, avx512f, avx512_bf16 (no AMX)", "cpus": 2}
    assert summary.machine_label(avx512) == "2 cores, AVX-512 BF16"
    assert summary.machine_label({"cpu_flags": "avx2 (no AMX)", "cpus": 2}) == "2 cores, AVX2 only, no bf16"
    assert summary.machine_label({"cpu_flags": "avx512f, amx_bf16, amx_tile", "cpus": 8}) == "8 cores, AMX"
    assert summary.machine_label({"gpu": "NVIDIA H200", "cpu_flags": "avx2"}) == "NVIDIA H200"
    assert summary.machine_label(None) == "unknown vector units"


def test_summary_says_which_machine_each_result_is_from(tmp_path, monkeypatch):
    monkeypatch.setattr(summary, "RESULTS", tmp_path)
    fast, slow = _scratch([0.89, 0.88, 0.885], 470.0), _scratch([0.905], 2400.0)
    fast["environment"] = {"cpu": "EPYC", "cpu_flags": "avx2, avx512f, avx512_bf16 (no AMX)", "cpus": 2}
    slow["environment"] = {"cpu": "EPYC", "cpu_flags": "avx2 (no AMX)", "cpus": 2}
    text = summary.write({"improved_cnn": fast, "improved_cnn_long": slow}).read_text()
    assert "These results come from 2 machines" in text
    assert "**2 cores, AVX-512 BF16** (improved_cnn)" in text
    assert "**2 cores, AVX2 only, no bf16** (improved_cnn_long)" in text
    goal_row = next(line for line in text.splitlines() if line.startswith("| from scratch: >= 90 %"))
    assert goal_row.endswith("| 2 cores, AVX-512 BF16 |")
    best_row = next(line for line in text.splitlines() if "time to 93 %" in line)   # not reached: the best run, named
    assert "not reached (best run: 90.50 %, improved_cnn_long" in best_row
    assert best_row.endswith("| 2 cores, AVX2 only, no bf16 |")


def test_summary_states_the_data_and_the_reference(tmp_path, monkeypatch):
    monkeypatch.setattr(summary, "RESULTS", tmp_path)
    facts = {"files": 50000, "sampled": 500, "formats": {"JPEG": 500}, "sizes": {"32x32": 500},
             "jpeg_quality": {"75": 500}, "jpeg_subsampling": {common.SUBSAMPLING[2]: 500}}
    text = summary.write({"data_facts": facts, "improved_cnn": _scratch([0.89], 470.0)}).read_text()
    assert "quality 75 in all 500" in text and "4:2:0" in text and "lossy copy" in text
    assert "airbench93" in text and "93.00 %" in text and "89.00 % after 10 epochs" in text
    lossless = dict(facts, formats={"PNG": 500}, jpeg_quality={}, jpeg_subsampling={})
    assert "lossy" not in summary.write({"data_facts": lossless}).read_text()


def test_depth_table_gives_costs_as_ratios_to_the_recipe(tmp_path, monkeypatch):
    monkeypatch.setattr(summary, "RESULTS", tmp_path)
    rows = [{"top_blocks": k, "probe_acc": 0.8, "test_acc": acc, "cache_s": cache, "top_s_per_epoch": epoch,
             "activation_shape": [c, 4, 4]}
            for k, acc, cache, epoch, c in ((2, 0.90, 200.0, 50.0, 192), (3, 0.91, 100.0, 100.0, 112),
                                            (4, 0.92, 50.0, 300.0, 80))]
    depth = {"rows": rows, "size": 128, "epochs": 3, "train_images": 10000, "test_images": 5000,
             "config": {"top_blocks": 3},   # the recipe's, as the run recorded it
             "load_before": "x load average: 1.00, 1.0, 1.0", "load_after": "x load average: 2.00, 2, 2",
             "environment": {"cpu_flags": "avx2 (no AMX)", "cpus": 2}}
    text = summary.write({"transfer_depth": depth}).read_text()
    assert "| 3 (recipe) | 112x4x4 | 80.00 % | 91.00 % | – | 1.00x | 1.00x |" in text
    assert "| 2 | 192x4x4 | 80.00 % | 90.00 % | -1.00 | 2.00x | 0.50x |" in text
    assert "| 4 | 80x4x4 | 80.00 % | 92.00 % | +1.00 | 0.50x | 3.00x |" in text
    assert "load 1.00 -> 2.00" in text and "2 cores, AVX2 only, no bf16" in text


def test_time_to_accuracy_plot_keeps_to_one_machine(tmp_path, monkeypatch):
    monkeypatch.setattr(summary, "RESULTS", tmp_path)
    home, other = _scratch([0.89], 470.0), _scratch([0.905], 2400.0)
    home["environment"] = {"cpu": "EPYC", "cpu_flags": "avx512_bf16", "cpus": 2}
    other["environment"] = {"cpu": "EPYC", "cpu_flags": "avx2", "cpus": 2}
    results = {"improved_cnn": home, "improved_cnn_long": other}
    assert list(summary.same_machine_runs(results)) == ["improved_cnn"]
    text = summary.write(results).read_text()
    assert "measured on another, and left out of it: improved_cnn_long" in text


def test_a_variant_from_another_machine_is_judged_on_accuracy_only(tmp_path, monkeypatch):
    monkeypatch.setattr(summary, "RESULTS", tmp_path)

    def transfer_run(acc, seconds, flags, blocks):
        run = _scratch([acc], seconds)
        run.update(size=128, probe_acc_mean=0.81, config={"top_blocks": blocks}, epochs=[5.4],
                   environment={"cpu": "EPYC", "cpu_flags": flags, "cpus": 2})
        for r in run["runs"]:
            r.update(cache_s=300.0, probe_s=60.0, top_s=seconds - 360.0, probe_acc=0.81)
        return run

    recipe = transfer_run(0.9127, 1147.0, "avx512_bf16", 3)
    slower = transfer_run(0.9300, 4571.0, "avx2", 4)
    text = summary.write({"transfer": recipe, "transfer_top4": slower}).read_text()
    row = next(line for line in text.splitlines() if "transfer_top4: top 4 blocks" in line)
    assert "93.00 % (1 seed) in 4571 s" in row and "accuracy reached; time not measured on the recipe's machine" in row
    same = transfer_run(0.9300, 1500.0, "avx512_bf16", 4)
    row = next(line for line in summary.write({"transfer": recipe, "transfer_top4": same}).read_text().splitlines()
               if "transfer_top4: top 4 blocks" in line)
    assert "not met: 1.25x the time" in row
