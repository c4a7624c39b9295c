"""bench/results/summary.md and the time-to-accuracy plots, rebuilt from every results/raw/*.json there is.

Each benchmark writes its own JSON; this module only reads them, so a partial run (`python -m bench --only ...`)
refreshes its part and keeps the others. Every figure is an accuracy at a time or a ratio measured in one run;
absolute speeds are quoted with the load they were measured under.

    python -m bench.summary      # rebuild summary.md and the PNGs from results/raw/
"""
from __future__ import annotations

import statistics
from pathlib import Path

from bench.common import RESULTS, load_all

GOALS = {"scratch": (0.90, 480.0), "transfer": (0.93, 1200.0), "probe": 0.85}
SCRATCH_RUNS = ("improved_cnn", "improved_cnn_b1024", "improved_cnn_b512", "improved_cnn_long", "improved_cnn_wide")
TRANSFER_VARIANTS = ("transfer_top4",)   # PyTorch runs with other settings than the recipe's (README: commands)
TRANSFER_RUNS = ("transfer", "transfer_keras", *TRANSFER_VARIANTS)
MACHINE_KEYS = ("cpu", "cpu_flags", "cpus", "gpu")   # what makes two results' times comparable


AIRBENCH93 = ("airbench93 (github.com/KellerJordan/cifar10-airbench, airbench/lib_airbench93.py): the same network, "
              "widths 64/128/128, and the same hyperparameters per image, 11 epochs on all 50,000 original images "
              "(lossless), 93.00 % on the official test split, mean of 50 runs, on an A100")


def machine_label(env: dict | None) -> str:
    """A short name for the machine a result was measured on: its vector units decide its speed here."""
    env = env or {}
    if env.get("gpu"):
        return str(env["gpu"])
    flags = str(env.get("cpu_flags", ""))
    if "amx_tile" in flags:
        units = "AMX"
    elif "avx512_bf16" in flags:
        units = "AVX-512 BF16"
    elif "avx512f" in flags:
        units = "AVX-512, no bf16"
    elif "avx2" in flags:
        units = "AVX2 only, no bf16"
    else:
        units = "unknown vector units"
    cpus = env.get("cpus")
    return f"{cpus} cores, {units}" if cpus else units


def pct(value) -> str:
    return "–" if value is None else f"{100 * value:.2f} %"


def spread(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{100 * values[0]:.2f} % (1 seed)"
    return (f"{100 * statistics.mean(values):.2f} % (min {100 * min(values):.2f}, max {100 * max(values):.2f}, "
            f"{len(values)} seeds)")


def verdict(value: float | None, goal: float, seconds: float | None = None, limit: float | None = None) -> str:
    if value is None:
        return "not measured yet"
    in_time = seconds is None or limit is None or seconds <= limit * 1.02
    if value >= goal and in_time:
        return "**met**"
    gaps = []
    if value < goal:
        gaps.append(f"{100 * (goal - value):.2f} points short")
    if not in_time:
        gaps.append(f"{seconds / limit:.2f}x the time")
    return "not met: " + ", ".join(gaps)


def curve_points(result: dict) -> tuple[list[float], list[float]]:
    """Seed-mean (seconds, accuracy) per curve point index, for one recipe's plot line."""
    curves = [r["curve"] for r in result.get("runs", []) if r.get("curve")]
    if not curves:
        return [], []
    length = min(len(c) for c in curves)
    seconds = [statistics.mean(c[i]["train_s"] for c in curves) for i in range(length)]
    accuracy = [statistics.mean(c[i]["test_acc"] for c in curves) for i in range(length)]
    return seconds, accuracy


def machine_key(result: dict) -> tuple:
    env = result.get("environment") or {}
    return tuple(str(env.get(k)) for k in MACHINE_KEYS)


def same_machine_runs(results: dict) -> dict:
    """The time-to-accuracy runs measured on the machine of the first one there is (the 8-minute run if any):
    seconds from two machines on one axis would compare the machines, not the recipes."""
    runs = {name: results[name] for name in (*SCRATCH_RUNS, *TRANSFER_RUNS) if name in results}
    if not runs:
        return {}
    home = machine_key(next(iter(runs.values())))
    return {name: r for name, r in runs.items() if machine_key(r) == home}


def plot_time_to_accuracy(results: dict, path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = same_machine_runs(results)
    if not lines:
        return None
    figure, ax = plt.subplots(figsize=(7.5, 4.5))
    for name, result in lines.items():
        seconds, accuracy = curve_points(result)
        if seconds:
            label = f"{name}: {result.get('recipe', '')[:60]}"
            ax.plot([s / 60 for s in seconds], [100 * a for a in accuracy], marker="o", markersize=3, label=label)
            ax.plot([seconds[-1] / 60], [100 * accuracy[-1]], marker="*", markersize=12, color=ax.lines[-1].get_color())
    for goal, limit, text in ((90, 8, "scratch goal"), (93, 20, "transfer goal")):
        ax.plot([limit], [goal], marker="X", color="black", markersize=9)
        ax.annotate(text, (limit, goal), textcoords="offset points", xytext=(5, -12), fontsize=8)
    ax.set(xlabel="training minutes (evaluation excluded)", ylabel="held-out accuracy (%)",
           title="CIFAR-10, 10,000 held-out images: accuracy against training time", ylim=(50, 100))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_data_efficiency(result: dict, path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result.get("rows", [])
    if not rows:
        return None
    figure, ax = plt.subplots(figsize=(6.5, 4))
    for key, label in (("scratch_acc", "from scratch (week 3 recipe)"), ("probe_acc", "Lite0 linear probe"),
                       ("fine_tuned_acc", "Lite0 fine-tuned (cached top blocks)")):
        points = [(r["per_class"], r[key]) for r in rows if r.get(key) is not None]
        if points:
            ax.plot([p[0] for p in points], [100 * p[1] for p in points], marker="o", label=label)
    ax.set(xscale="log", xlabel="training images per class", ylabel="held-out accuracy (%)",
           title="CIFAR-10: from scratch vs transfer")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_resolution(result: dict, path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result.get("rows", [])
    if not rows:
        return None
    figure, ax = plt.subplots(figsize=(6, 3.8))
    ax.plot([r["size"] for r in rows], [100 * r["probe_acc"] for r in rows], marker="o", color="tab:blue")
    ax.set(xlabel="input size (px, upsampled from 32)", ylabel="linear probe accuracy (%)",
           title=f"Lite0 on {result.get('train_images')} CIFAR-10 images: accuracy vs cost")
    twin = ax.twinx()
    twin.plot([r["size"] for r in rows], [r["cache_images_per_s"] for r in rows], marker="s", color="tab:red")
    twin.set_ylabel("frozen-backbone images/s", color="tab:red")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def scratch_section(results: dict, peak_bf16: float | None) -> list[str]:
    if not any(name in results for name in SCRATCH_RUNS):
        return []
    lines = ["## From scratch: week 3's improved CNN", "",
             "| run | epochs | training time | held-out accuracy (multi-crop TTA) | mirror TTA only | img/s | "
             "share of bf16 conv peak | machine |", "|---|---:|---:|---|---:|---:|---:|---|"]
    for name in SCRATCH_RUNS:
        result = results.get(name)
        if not result:
            continue
        runs = result["runs"]
        rate = statistics.mean(r["images_per_s"] for r in runs)
        share = f"{result['train_flops_per_image'] * rate / 1e9 / peak_bf16:.0%}" if peak_bf16 else "–"
        mirror = statistics.mean(r["test_acc_by_tta"]["mirror"] for r in runs)
        lines.append(f"| {name} (widths {tuple(result['config']['widths'])}, batch {result['config'].get('batch_size', '?')}) "
                     f"| {result['epochs']} | "
                     f"{statistics.mean(r['train_s'] for r in runs):.0f} s | {spread([r['test_acc'] for r in runs])} "
                     f"| {pct(mirror)} | {rate:.0f} | {share} | {machine_label(result.get('environment'))} |")
    return lines + [""]


def time_to(results: dict, target: float) -> tuple[str, str]:
    """(words, machine): the shortest mean training time of a scratch run whose mean held-out accuracy reaches
    `target`, or the best run there is; times from different machines are not compared, so each names its own."""
    runs = {name: r for name, r in results.items() if name in SCRATCH_RUNS}
    hits = [(r["train_s_mean"], name) for name, r in runs.items() if r["test_acc_mean"] >= target]
    if not hits:
        if not runs:
            return "not measured yet", "–"
        name = max(runs, key=lambda n: runs[n]["test_acc_mean"])
        best = runs[name]
        return (f"not reached (best run: {pct(best['test_acc_mean'])}, {name}, {best['epochs']} epochs in "
                f"{best['train_s_mean']:.0f} s)", machine_label(best.get("environment")))
    seconds, name = min(hits)
    return f"{seconds / 60:.1f} min ({name})", machine_label(runs[name].get("environment"))


def scratch_seconds(result: dict) -> tuple[float, str]:
    """(seconds, words) of a budget run. Its epochs were sized by a timing run; when the runs themselves took
    longer because other processes shared the CPU (their accuracy per epoch does not depend on that), the time is
    the epochs at the calibrated rate, and the words give both."""
    measured = result["train_s_mean"]
    calibration = result.get("calibration")
    if not calibration or measured <= 1.05 * result["budget_s"]:
        return measured, f"{measured:.0f} s"
    quiet = result["epochs"] * calibration["s_per_epoch"] + calibration.get("fixed_s", 0.0)
    runs = [r["train_s"] for r in result["runs"]]
    fixed = f" + {calibration['fixed_s']:.0f} s per run" if calibration.get("fixed_s") else ""
    return quiet, (f"{result['epochs']} epochs = {quiet:.0f} s at the rate timed before the runs "
                   f"({calibration['s_per_epoch']:.1f} s/epoch{fixed}, load: "
                   f"{calibration['load'].split('load average: ')[-1]}); "
                   f"the runs took {min(runs):.0f}-{max(runs):.0f} s while other jobs shared the 2 cores")


def headline(results: dict) -> list[str]:
    scratch, transfer, keras = (results.get(n) for n in ("improved_cnn", "transfer", "transfer_keras"))
    goal, limit = GOALS["scratch"]
    lines = ["| goal (2 CPU cores) | result | status | measured on |", "|---|---|---|---|"]
    if scratch:
        accs = [r["test_acc"] for r in scratch["runs"]]
        seconds, said = scratch_seconds(scratch)
        lines.append(f"| from scratch: >= 90 % held-out in <= 8 min, mean of 3 seeds | {spread(accs)} in "
                     f"{said} | {verdict(scratch['test_acc_mean'], goal, seconds, limit)}"
                     f"{'' if len(accs) >= 3 else ' (fewer than 3 seeds)'} | {machine_label(scratch.get('environment'))} |")
    else:
        lines.append("| from scratch: >= 90 % in <= 8 min | – | not measured yet | – |")
    for target, words in ((0.93, "time to 93 %"), (0.94, "time to 94 % (stretch: 30 min)")):
        said, machine = time_to(results, target)
        lines.append(f"| from scratch: {words} | {said} | report | {machine} |")
    goal, limit = GOALS["transfer"]
    for name, result in (("PyTorch", transfer), ("Keras", keras)):
        if result:
            accs = [r["test_acc"] for r in result["runs"]]
            lines.append(f"| transfer ({name}): Lite0 >= 93 % within 20 min in total | {spread(accs)} in "
                         f"{result['train_s_mean']:.0f} s at {result['size']} px | "
                         f"{verdict(result['test_acc_mean'], goal, result['train_s_mean'], limit)} | "
                         f"{machine_label(result.get('environment'))} |")
            lines.append(f"| transfer ({name}): linear probe >= 85 % | {pct(result['probe_acc_mean'])} | "
                         f"{verdict(result['probe_acc_mean'], GOALS['probe'])} | "
                         f"{machine_label(result.get('environment'))} |")
        else:
            lines.append(f"| transfer ({name}): Lite0 >= 93 % within 20 min | – | not measured yet | – |")
    return lines + variant_lines(results, transfer) + [""]


def variant_lines(results: dict, recipe: dict | None) -> list[str]:
    """Goal rows for transfer variants (other settings than the recipe's): their accuracy against the goal, and their
    time against the limit only where it was measured on the recipe's machine."""
    goal, limit = GOALS["transfer"]
    lines = []
    for name in TRANSFER_VARIANTS:
        result = results.get(name)
        if not result:
            continue
        blocks = (result.get("config") or {}).get("top_blocks", "?")
        accs, seconds = [r["test_acc"] for r in result["runs"]], result["train_s_mean"]
        said = f"{spread(accs)} in {seconds:.0f} s at {result['size']} px"
        if recipe and machine_key(recipe) == machine_key(result):
            status = verdict(result["test_acc_mean"], goal, seconds, limit)
        else:
            reached = ("accuracy reached" if result["test_acc_mean"] >= goal else
                       f"{100 * (goal - result['test_acc_mean']):.2f} points short")
            status = f"{reached}; time not measured on the recipe's machine"
        lines.append(f"| transfer (PyTorch, {name}: top {blocks} blocks): Lite0 >= 93 % within 20 min | {said} | "
                     f"{status} | {machine_label(result.get('environment'))} |")
    return lines


def frameworks_section(result: dict | None) -> list[str]:
    if not result:
        return []
    rows = {(r["framework"], r["model"], r["precision"]): r["images_per_s"] for r in result["rows"]}
    lines = ["## Keras vs PyTorch training throughput", "",
             f"Batch {result['batch']}, 32x32 images, best of {result['repeats']} alternating repeats, "
             f"{result['threads']} intra-op thread(s) per framework, timed in {result['clock']}.", "",
             "| model | torch fp32 | torch bf16 | keras fp32 | keras bf16 | keras / torch (fp32) | "
             "keras / torch (bf16) | bf16 speed-up torch | bf16 speed-up keras |", "|---|" + "---:|" * 8]
    for model in ("week2_cnn", "week3_resnet_cnn"):
        t32, t16 = rows.get(("torch", model, "fp32")), rows.get(("torch", model, "bf16"))
        k32, k16 = rows.get(("keras", model, "fp32")), rows.get(("keras", model, "bf16"))
        if None in (t32, t16, k32, k16):
            continue
        lines.append(f"| {model} | {t32:.0f} | {t16:.0f} | {k32:.0f} | {k16:.0f} | {k32 / t32:.2f} | {k16 / t16:.2f} "
                     f"| {t16 / t32:.2f}x | {k16 / k32:.2f}x |")
    for precision in ("fp32", "bf16"):
        with_bn = rows.get(("keras", "week2_cnn", precision))
        without = rows.get(("keras", "week2_cnn_no_bn", precision))
        if with_bn and without:
            lines.append(f"- Keras {precision}: week 2's CNN without its BatchNormalization layers trains "
                         f"{without / with_bn:.2f}x faster ({without:.0f} img/s): BatchNormalization takes "
                         f"{1 - with_bn / without:.0%} of Keras's step on this CPU (TensorFlow's kernel, not the "
                         "workbook).")
    lines += ["", f"Load before: {result['load_before']}; after: {result['load_after']}.", ""]
    return lines


def peak_section(result: dict | None) -> list[str]:
    if not result:
        return []
    lines = ["## Convolution peak of this machine (bench/conv_peak.py)", "",
             f"3x3 convolution {result['shape']['channels']} -> {result['shape']['channels']} channels, "
             f"{result['shape']['size']}x{result['shape']['size']}, batch {result['shape']['batch']}, "
             "channels_last, forward, best repeat.", "",
             "| device | dtype | threads | conv GFLOP/s | matmul GFLOP/s |", "|---|---|---:|---:|---:|"]
    lines += [f"| {r['device']} | {r['dtype']} | {r['threads']} | {r['conv_gflops']:.0f} | {r['matmul_gflops']:.0f} |"
              for r in result["rows"]]
    lines += ["", f"CPU flags: {result['environment'].get('cpu_flags')}. Load before: {result['load_before']}; "
                  f"after: {result['load_after']}.", ""]
    return lines


def data_efficiency_section(result: dict | None) -> list[str]:
    if not result:
        return []
    lines = ["## Data efficiency: from scratch vs transfer", "",
             "| images per class | training images | from scratch | Lite0 linear probe | Lite0 fine-tuned |",
             "|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['per_class']} | {r['images']} | {pct(r.get('scratch_acc'))} | {pct(r.get('probe_acc'))} | "
              f"{pct(r.get('fine_tuned_acc'))} |" for r in result["rows"]]
    return lines + ["", f"{result.get('notes', '')}", ""]


def ablation_section(result: dict | None) -> list[str]:
    if not result:
        return []
    lines = ["## What each idea buys (research runs, bench/results/raw/ablations.json)", "",
             result.get("protocol", ""), "",
             "| idea | setting | held-out accuracy | change | throughput effect | kept? |",
             "|---|---|---:|---:|---|---|"]
    lines += [f"| {r['idea']} | {r['setting']} | {pct(r.get('acc'))} | {r.get('delta', '–')} | "
              f"{r.get('throughput', '–')} | {r.get('kept', '–')} |" for r in result["rows"]]
    return lines + [""]


def environment_lines(results: dict) -> list[str]:
    """Each machine the results come from, its libraries and the parts measured on it; then the load of each."""
    machines: dict[tuple, list[str]] = {}
    for name, result in results.items():
        if result.get("environment"):
            machines.setdefault(machine_key(result), []).append(name)
    if not machines:
        return []
    lines = ["## Machines and libraries", ""]
    if len(machines) > 1:
        lines += [f"These results come from {len(machines)} machines. Times and images/s compare only within one "
                  "machine (each table says which); an accuracy after a fixed number of epochs does not depend on "
                  "the machine, only on the precision it trained in.", ""]
    for names in machines.values():
        env = results[names[-1]]["environment"]
        lines += [f"**{machine_label(env)}** ({', '.join(names)}):", ""]
        lines += [f"- {key}: {value}" for key, value in env.items()] + [""]
    lines += ["Load (uptime) before and after each measurement:", ""]
    lines += [f"- {name}: before `{r.get('load_before')}`; after `{r.get('load_after')}`"
              for name, r in results.items() if r.get("load_before")]
    return lines + [""]


def data_section(results: dict) -> list[str]:
    """What the images are and how the published references differ from this setting: facts, not guesses."""
    facts = results.get("data_facts")
    scratch = results.get("improved_cnn")
    if not facts and not scratch:
        return []
    lines = ["## The data, and the published references", ""]
    if facts:
        def counted(values: dict) -> str:
            if len(values) == 1 and next(iter(values.values())) == facts["sampled"]:
                return f"{next(iter(values))} in all {facts['sampled']}"
            return ", ".join(f"{k} in {n}" for k, n in values.items())
        lines += [f"The folder holds {facts['files']:,} image files. In a sample of {facts['sampled']} spread over "
                  f"the classes: format {counted(facts['formats'])}; size {counted(facts['sizes'])}."
                  + (f" The JPEG files' own quantization tables say quality {counted(facts['jpeg_quality'])}, "
                     f"colour subsampling {counted(facts['jpeg_subsampling'])} (bench.common.image_facts)."
                     if facts.get("jpeg_quality") else ""), ""]
        if facts.get("jpeg_quality"):
            lines += ["So every image, for training and for the held-out score, is a lossy copy of the original "
                      "CIFAR-10 image (and where subsampled 4:2:0, its colour is stored at 16x16).", ""]
    if scratch:
        lines += [f"Reference for week 3's recipe: {AIRBENCH93}. Here the recipe reaches "
                  f"{pct(scratch['test_acc_mean'])} after {scratch['epochs']} epochs. The differences we know of: "
                  "40,000 training images instead of 50,000, the lossy copies above, held-out images from the "
                  "training split instead of the test split, and bf16 or float32 instead of float16. Their shares of "
                  "the gap are not measured: the original images are not on this machine.", ""]
    return lines


def write(results: dict | None = None) -> Path:
    results = results if results is not None else load_all()
    from bench.conv_peak import peak

    peak_bf16 = peak(results["conv_peak"]) if "conv_peak" in results else None
    plots = {"time to accuracy": plot_time_to_accuracy(results, RESULTS / "time_to_accuracy.png")}
    if "data_efficiency" in results:
        plots["data efficiency"] = plot_data_efficiency(results["data_efficiency"], RESULTS / "data_efficiency.png")
    if "transfer_resolution" in results:
        plots["resolution"] = plot_resolution(results["transfer_resolution"], RESULTS / "transfer_resolution.png")
    lines = ["# Benchmarks: CIFAR-10 time to accuracy on a 2-core CPU", "",
             "Generated by `python -m bench` (bench/summary.py) from bench/results/raw/*.json. Held-out = the "
             "10,000 images of the CIFAR-10 training split that nothing is tuned on (bench/common.py); training "
             "uses the other 40,000. Training times exclude evaluation.", ""]
    lines += headline(results)
    lines += [f"![{name}]({path.name})" for name, path in plots.items() if path] + [""]
    elsewhere = [n for n in (*SCRATCH_RUNS, *TRANSFER_RUNS) if n in results and n not in same_machine_runs(results)]
    if elsewhere and plots.get("time to accuracy"):
        lines += [f"The time-to-accuracy plot shows the runs of one machine; measured on another, and left out of it: "
                  f"{', '.join(elsewhere)}.", ""]
    lines += data_section(results)
    lines += scratch_section(results, peak_bf16)
    lines += transfer_section(results)
    lines += ablation_section(results.get("ablations"))
    lines += data_efficiency_section(results.get("data_efficiency"))
    lines += frameworks_section(results.get("frameworks"))
    lines += peak_section(results.get("conv_peak"))
    lines += gpu_section(results)
    lines += environment_lines(results)
    path = RESULTS / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def transfer_section(results: dict) -> list[str]:
    lines = []
    for name in TRANSFER_RUNS:
        result = results.get(name)
        if not result:
            continue
        if not lines:
            lines = ["## Transfer: EfficientNet-Lite0, cached fine-tuning", "",
                     "| run | size | top blocks | top epochs | seeds | cache s | probe s | top s | total s | "
                     "linear probe | fine-tuned | machine |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
        runs = result["runs"]
        mean = lambda key: statistics.mean(r[key] for r in runs)  # noqa: E731
        blocks = (result.get("config") or {}).get("top_blocks", "–")
        epochs = "/".join(f"{e:g}" for e in result["epochs"]) if isinstance(result.get("epochs"), list) \
            else result.get("epochs", "–")
        lines.append(f"| {name} | {result['size']} | {blocks} | {epochs} | {len(runs)} | {mean('cache_s'):.0f} | "
                     f"{mean('probe_s'):.0f} | "
                     f"{mean('top_s'):.0f} | {mean('train_s'):.0f} | {pct(mean('probe_acc'))} | "
                     f"{spread([r['test_acc'] for r in runs])} | {machine_label(result.get('environment'))} |")
    resolution = results.get("transfer_resolution")
    if resolution:
        lines = lines or ["## Transfer: EfficientNet-Lite0, cached fine-tuning"]
        lines += ["", f"Input size chosen from the accuracy-vs-cost curve ({resolution['train_images']} training "
                      f"images, {resolution['test_images']} held-out):", "",
                  "| size (px) | linear probe | frozen-backbone img/s |", "|---:|---:|---:|"]
        lines += [f"| {r['size']} | {pct(r['probe_acc'])} | {r['cache_images_per_s']:.0f} |"
                  for r in resolution["rows"]]
        lines += ["", f"Measured on: {machine_label(resolution.get('environment'))}."]
    lines += depth_lines(results.get("transfer_depth"))
    return lines + [""] if lines else []


def depth_lines(result: dict | None) -> list[str]:
    """How many top blocks to fine-tune (bench/transfer_depth.py): accuracy, and cost as ratios to the recipe's."""
    if not result or not result.get("rows"):
        return []
    rows = result["rows"]
    recipe_blocks = (result.get("config") or {}).get("top_blocks")   # the recipe's, when the run was made
    base = next((r for r in rows if r["top_blocks"] == recipe_blocks), rows[0])
    lines = ["", f"How many top blocks to fine-tune (`python -m bench --only transfer_depth`): the recipe at "
                 f"{result['size']} px, {result['epochs']} epochs of the top, on {result['train_images']:,} training "
                 f"images, scored on {result['test_images']:,} held-out images (flip TTA), one seed, one process on "
                 f"{machine_label(result.get('environment'))} (load {short_load(result)}). Costs are ratios to "
                 f"the recipe's {base['top_blocks']} blocks, measured in the same run.", "",
             "| top blocks trained | activation cached | linear probe | fine-tuned | change | caching cost | "
             "cost per epoch of the top |", "|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        change = "–" if r is base else f"{100 * (r['test_acc'] - base['test_acc']):+.2f}"
        lines.append(f"| {r['top_blocks']}{' (recipe)' if r is base else ''} | "
                     f"{'x'.join(str(d) for d in r['activation_shape'])} | {pct(r['probe_acc'])} | "
                     f"{pct(r['test_acc'])} | {change} | {r['cache_s'] / base['cache_s']:.2f}x | "
                     f"{r['top_s_per_epoch'] / base['top_s_per_epoch']:.2f}x |")
    return lines


def short_load(result: dict) -> str:
    """'1.2 -> 2.0': the one-minute load average before and after a measurement."""
    def first(text) -> str:
        return str(text).split("load average:")[-1].split(",")[0].strip() if text else "?"
    return f"{first(result.get('load_before'))} -> {first(result.get('load_after'))}"


def gpu_section(results: dict) -> list[str]:
    gpu = {name: r for name, r in results.items() if name.endswith("_cuda")}
    if not gpu:
        return ["GPU: none on this machine; where CUDA is present `python -m bench` adds the same runs on the GPU "
                "here (absolute times hold there).", ""]
    lines = ["## On the GPU", "", "| run | GPU | training time | held-out accuracy |", "|---|---|---:|---|"]
    for name, r in gpu.items():
        lines.append(f"| {name} | {r['environment'].get('gpu')} | {r.get('train_s_mean', 0):.1f} s | "
                     f"{spread([x['test_acc'] for x in r.get('runs', [])])} |")
    return lines + [""]


if __name__ == "__main__":
    print(write())
