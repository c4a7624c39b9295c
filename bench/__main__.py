"""`python -m bench`: the workbook's CIFAR-10 benchmarks in one command, then bench/results/summary.md and plots.

Default (about 15 minutes on 2 cores): what the image files are (data_facts), the convolution peak (conv_peak),
Keras vs PyTorch throughput (frameworks) and one seed of week 3's improved CNN in its 8-minute budget (improved_cnn).
`--full` (several hours on 2 cores; run it on a quiet machine): three seeds of the 8-minute run, the longer
scratch runs that measure the time to 93 % and 94 %, the transfer model (input-size curve, three seeds of the
20-minute recipe, its Keras twin, how many top blocks to fine-tune), and the data-efficiency experiment.
`--only NAME ...` runs just those parts; `--summary` only rebuilds summary.md from the saved results.

Data: the CIFAR-10 training split as an image folder, `--data PATH` (default /tmp/cifar10, holding
train/<class>/*.jpg). Without it, the parts that need it stop with a message that says where to put it. On a
machine with a CUDA GPU the same parts run there, and the summary names the GPU.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench.common import DEFAULT_DATA, DataMissing, check_data, uptime

QUICK = ("data_facts", "conv_peak", "frameworks", "improved_cnn")
FULL = ("data_facts", "conv_peak", "frameworks", "improved_cnn3", "improved_cnn_b1024", "improved_cnn_long",
        "improved_cnn_wide", "transfer_resolution", "transfer_depth", "transfer", "transfer_keras", "data_efficiency")
NEEDS_DATA = {"data_facts", "transfer_depth", "improved_cnn", "improved_cnn3", "improved_cnn_b1024",
              "improved_cnn_long", "improved_cnn_wide",
              "transfer_resolution", "transfer", "transfer_keras", "data_efficiency"}
TRANSFER_SIZE, TRANSFER_BUDGET_S = 128, 1200.0  # size chosen from transfer_resolution (see the summary)
TRANSFER_EPOCHS = 6                              # Keras twin and data efficiency: fixed epochs
LONG_EPOCHS = 20                                  # the scratch runs behind "time to 93 % / 94 %":
WIDE_WIDTHS, WIDE_EPOCHS = (64, 256, 256), 16     # the same recipe at airbench94's widths


def run_part(name: str, data: Path) -> None:
    if name == "data_facts":
        from bench.common import image_facts, save
        save("data_facts", {"folder": str(data), **image_facts(data)})
    elif name == "conv_peak":
        from bench import conv_peak
        conv_peak.run()
    elif name == "frameworks":
        from bench import frameworks
        frameworks.run()
    elif name in ("improved_cnn", "improved_cnn3"):
        from bench import improved_cnn
        improved_cnn.run(data, seeds=(0,) if name == "improved_cnn" else (0, 1, 2), budget_s=480.0)
    elif name == "improved_cnn_b1024":   # the 8-minute run at airbench's batch 1024 (the same LR per image)
        from dataclasses import replace

        from bench import improved_cnn
        from solutions.week3.improved_cnn import RecipeConfig
        config = RecipeConfig()
        scale = 1024 / config.batch_size
        improved_cnn.run(data, seeds=(0,), budget_s=480.0, name="improved_cnn_b1024",
                         config=replace(config, batch_size=1024, learning_rate=config.learning_rate * scale))
    elif name == "improved_cnn_long":
        from bench import improved_cnn
        improved_cnn.run(data, seeds=(0,), epochs=LONG_EPOCHS, budget_s=None, name="improved_cnn_long")
    elif name == "improved_cnn_wide":
        from dataclasses import replace

        from bench import improved_cnn
        from solutions.week3.improved_cnn import RecipeConfig
        improved_cnn.run(data, seeds=(0,), epochs=WIDE_EPOCHS, budget_s=None, name="improved_cnn_wide",
                         config=replace(RecipeConfig(), widths=WIDE_WIDTHS))
    elif name == "transfer_resolution":
        from bench import transfer
        from solutions.week4.cached_transfer import CachedConfig
        transfer.resolution_curve(data, (64, 96, 128, 160), 5000, CachedConfig())
    elif name == "transfer_depth":
        from bench import transfer_depth
        transfer_depth.run(data)
    elif name == "transfer":
        from bench import transfer
        transfer.run(data, seeds=(0, 1, 2), size=TRANSFER_SIZE, budget_s=TRANSFER_BUDGET_S)
    elif name == "transfer_keras":
        from bench import transfer_keras
        transfer_keras.run(data, size=TRANSFER_SIZE, epochs=TRANSFER_EPOCHS)
    elif name == "data_efficiency":
        from bench import data_efficiency
        from bench.common import load_all
        scratch = load_all().get("improved_cnn")
        data_efficiency.run(data, TRANSFER_SIZE, TRANSFER_EPOCHS,
                            scratch_all=scratch["test_acc_mean"] if scratch else None)
    else:
        raise ValueError(f"unknown part {name!r}; choose from {', '.join(dict.fromkeys(QUICK + FULL))}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also the long runs (hours)")
    parser.add_argument("--only", nargs="+", metavar="PART",
                        help=f"parts to run: {', '.join(dict.fromkeys(QUICK + FULL))}")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CIFAR-10 folder with train/<class>/")
    parser.add_argument("--summary", action="store_true", help="only rebuild summary.md and the plots")
    args = parser.parse_args(argv)
    parts = [] if args.summary else list(args.only or (FULL if args.full else QUICK))
    if NEEDS_DATA.intersection(parts):
        try:
            check_data(args.data)
        except DataMissing as error:
            print(f"python -m bench: {error}", file=sys.stderr)
            return 2
    import shared  # noqa: F401 - torch (and triton) before TensorFlow

    start = time.perf_counter()
    print(f"load before: {uptime()}", flush=True)
    for part in parts:
        print(f"== {part} ==", flush=True)
        run_part(part, args.data)
    from bench import summary
    path = summary.write()
    print(f"load after: {uptime()}; {time.perf_counter() - start:.0f} s; wrote {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
