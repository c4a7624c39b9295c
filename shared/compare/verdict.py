"""The sentences at the top of the report: which row did best and by how much against the seed spread, what
transfer learning buys over the custom CNN, where the frameworks differ in speed and why; then, row by row,
which accuracy differences exceed the spread. Generated from results.json's rows, never written by hand."""
from __future__ import annotations

import numpy as np

from shared.compare.spread import exceeds
from shared.compare.table import row_label

SPEED_GAP = 1.3   # a framework is "faster" when it takes at most 1/1.3 of the other's time
COMPILE_SHARE = 0.1   # a first epoch this much longer than the others is worth a sentence


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _with_spread(row: dict) -> str:
    spread = row.get("spread")
    return _pct(row["test_accuracy"]) + (f" ± {100 * spread['test_accuracy_std']:.1f}" if spread else "")


UNKNOWN = "not tested against noise"
NO_SPREAD = ("No seed spread is known for this configuration (one training seed, and none recorded for this data and "
             "these recipes), so no difference below is tested against noise: run with --seeds 0 1 2 to know.")


def _against_spread(a: dict, b: dict) -> str:
    verdict = exceeds(a, b)
    if verdict is None:
        return UNKNOWN
    return "more than the seed spread" if verdict else "within the seed spread: not a real difference"


def _gap(a: dict, b: dict) -> str:
    return f"{100 * abs(a['test_accuracy'] - b['test_accuracy']):.1f} points"


def best_sentence(rows: list[dict]) -> str | None:
    ranked = sorted(rows, key=lambda r: r["test_accuracy"], reverse=True)
    if not ranked:
        return None
    if len(ranked) == 1:
        return f"Only one row was measured: {row_label(ranked[0])}, {_with_spread(ranked[0])}."
    best, second = ranked[0], ranked[1]
    return (f"Best: {row_label(best)} at {_with_spread(best)} test accuracy, {_gap(best, second)} above "
            f"{row_label(second)} ({_with_spread(second)}): {_against_spread(best, second)}.")


def _twins(rows: list[dict]) -> list[tuple[dict, dict]]:
    by_model: dict[tuple[str, str], dict[str, dict]] = {}
    for row in rows:
        by_model.setdefault((row["model"], row["impl"]), {})[row["framework"]] = row
    return [(pair["torch"], pair["keras"]) for pair in by_model.values() if {"torch", "keras"} <= set(pair)]


def twin_sentences(rows: list[dict]) -> list[str]:
    return [f"{t['model']}: PyTorch {_with_spread(t)} vs Keras {_with_spread(k)}, {_gap(t, k)} apart: "
            f"{_against_spread(t, k)}." for t, k in _twins(rows)]


def _find(rows: list[dict], model_prefix: str, framework: str) -> dict | None:
    matches = [r for r in rows if r["model"].startswith(model_prefix) and r["impl"] == "reference"]
    return next((r for r in matches if r["framework"] == framework), matches[0] if matches else None)


def transfer_sentence(rows: list[dict], efficiency: dict | None) -> str | None:
    transfer, cnn = _find(rows, "transfer_", "torch"), _find(rows, "cnn", "torch")
    if transfer is None or cnn is None:
        return None
    gain = transfer["test_accuracy"] - cnn["test_accuracy"]
    sentence = (f"Transfer learning ({row_label(transfer)}) against the custom CNN ({row_label(cnn)}): "
                f"{'+' if gain >= 0 else '-'}{_gap(transfer, cnn)} of accuracy ({_against_spread(transfer, cnn)}), "
                f"for {transfer['train_time_s'] / cnn['train_time_s']:.1f}x the training time "
                f"({transfer['train_time_s']:.0f} s vs {cnn['train_time_s']:.0f} s, {transfer['recipe']['epochs']} "
                f"epochs vs {cnn['recipe']['epochs']}) and "
                f"{transfer['latency_ms_per_image_batch64'] / cnn['latency_ms_per_image_batch64']:.0f}x the time per "
                f"image at inference ({transfer['latency_ms_per_image_batch64']:.2f} vs "
                f"{cnn['latency_ms_per_image_batch64']:.2f} ms at batch 64), with "
                f"{transfer['params_total'] / 1e6:.1f} M parameters against {cnn['params_total'] / 1e6:.2f} M.")
    if efficiency and efficiency.get("per_class"):
        i = 0
        sentence += (f" Where it pays most is with little data: with {efficiency['per_class'][i]} training images "
                     f"per class, transfer reaches {_pct(efficiency['transfer'][i])} where the CNN reaches "
                     f"{_pct(efficiency['cnn'][i])} (data-efficiency figure).")
    return sentence


def _ratio(a: float, b: float) -> str:
    return f"{max(a, b) / min(a, b):.1f}x"


def _epoch_times(row: dict) -> tuple[float, float]:
    """(median seconds of an epoch after the first, extra seconds of the first), from the first seed's history."""
    times = row["history"]["epoch_time_s"]
    later = float(np.median(times[1:])) if len(times) > 1 else float(times[0])
    return later, float(times[0]) - later


def _clearly_apart(a: float, b: float) -> bool:
    return max(a, b) >= SPEED_GAP * min(a, b)


def training_speed(t: dict, k: dict) -> str | None:
    """Only when both wall time and CPU time say so: on a shared machine, wall time alone can mislead."""
    seconds_t, seconds_k = t["train_time_s"], k["train_time_s"]
    cpu_t, cpu_k = t.get("train_cpu_s", seconds_t), k.get("train_cpu_s", seconds_k)
    if not (_clearly_apart(seconds_t, seconds_k) and _clearly_apart(cpu_t, cpu_k) and (seconds_t < seconds_k) == (cpu_t < cpu_k)):
        return None
    if seconds_k < seconds_t:
        return (f"{t['model']}: Keras trains {_ratio(seconds_t, seconds_k)} faster than PyTorch ({seconds_k:.0f} s vs "
                f"{seconds_t:.0f} s; CPU time {cpu_k:.0f} s vs {cpu_t:.0f} s): its fit runs each training step as one compiled TensorFlow graph, PyTorch runs "
                f"the same step op by op from Python.")
    epoch_t, _ = _epoch_times(t)
    epoch_k, first_k = _epoch_times(k)
    return (f"{t['model']}: PyTorch trains {_ratio(seconds_t, seconds_k)} faster than Keras ({seconds_t:.0f} s vs "
            f"{seconds_k:.0f} s; CPU time {cpu_t:.0f} s vs {cpu_k:.0f} s): {epoch_t:.1f} s against {epoch_k:.1f} s per "
            f"epoch after the first{_compile_part(epoch_k, first_k)}.")


def _compile_part(epoch_s: float, first_extra_s: float) -> str:
    """What Keras' first epoch (which also traces and compiles the training graph) adds, only when it adds something."""
    if first_extra_s >= max(1.0, COMPILE_SHARE * epoch_s):
        return f", and Keras' first epoch took {first_extra_s:.1f} s longer than its others (tracing and compiling the graph)"
    return "; Keras' first epoch, which also traces and compiles the graph, took no longer than the others: the gap is in every step"


def inference_speed(t: dict, k: dict) -> str | None:
    usual_t, usual_k = t["latency_ms_per_image_batch64"], k["latency_ms_per_image_batch64"]
    eager_t, eager_k = t["latency_eager_ms_per_image_batch64"], k["latency_eager_ms_per_image_batch64"]
    if max(usual_t, usual_k) < SPEED_GAP * min(usual_t, usual_k):
        return None
    numbers = (f"{usual_t:.2f} ms/img PyTorch eager vs {usual_k:.2f} ms/img Keras tf.function; eager to eager "
               f"{eager_t:.2f} vs {eager_k:.2f}")
    if usual_t < usual_k:
        why = "PyTorch eager beats even Keras' compiled graph on this model"
    elif eager_k * SPEED_GAP <= eager_t:
        why = "Keras is faster even eager to eager, and compiling the model into one graph adds to that"
    else:
        why = ("eager to eager Keras is not faster, so the gap comes from compiling the model into one graph (fused "
               "operations, no Python in between), not from faster kernels")
    faster = "PyTorch" if usual_t < usual_k else "Keras"
    return (f"{t['model']} at inference: {faster} is {_ratio(usual_t, usual_k)} faster per image at batch 64 in "
            f"each framework's usual path ({numbers}): {why}.")


def speed_sentences(rows: list[dict]) -> list[str]:
    """Per twin pair: training speed, then inference in each framework's usual path and eager against eager."""
    sentences = []
    for t, k in _twins(rows):
        sentences += [s for s in (training_speed(t, k), inference_speed(t, k)) if s]
    return sentences


def difference_sentences(rows: list[dict]) -> list[str]:
    """Rows from best to worst, each against the next: does the step down exceed the seed spread?"""
    ranked = sorted(rows, key=lambda r: r["test_accuracy"], reverse=True)
    return [f"{row_label(a)} ({_with_spread(a)}) vs {row_label(b)} ({_with_spread(b)}): {_gap(a, b)}, "
            f"{_against_spread(a, b)}." for a, b in zip(ranked, ranked[1:])]


def verdict(rows: list[dict], efficiency: dict | None = None) -> list[str]:
    measured = [row for row in rows if row["status"] == "ok"]
    unknown = measured and all(row.get("spread") is None for row in measured)
    sentences = [NO_SPREAD if unknown else None, best_sentence(measured), *twin_sentences(measured),
                 transfer_sentence(measured, efficiency), *speed_sentences(measured)]
    return [sentence for sentence in sentences if sentence]
