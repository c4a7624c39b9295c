"""How many of Lite0's top blocks to fine-tune: held-out accuracy and cost per epoch, 2, 3 and 4 blocks.

Week 4's cached recipe trains the top `CachedConfig.top_blocks` blocks on cached activations of the rest. More
blocks can learn more, but each one moves work from the one-off cache into every epoch. This runs the reference
recipe (bench/transfer.run_seed: `split_backbone`, `cache_activations`, `fit_head`, `train_top`) once per depth on
the same images, one after the other in one process, so that the cost columns are ratios measured in one run:

    python -m bench.transfer_depth                       # 10,000 training images, 5,000 held-out, 128 px, 3 epochs
    python -m bench.transfer_depth --blocks 2 3 --limit 2000 --epochs 1   # a quick look
"""
from __future__ import annotations

import argparse
from dataclasses import asdict, replace
from pathlib import Path

from bench.common import DEFAULT_DATA, device as pick_device, environment, load_cifar10, save, uptime
from bench.transfer import run_seed
from solutions.week4.cached_transfer import CachedConfig


def run(data_dir: Path = DEFAULT_DATA, blocks=(2, 3, 4), limit: int = 10_000, test_limit: int = 5_000,
        size: int = 128, epochs: float = 3.0, name: str = "transfer_depth") -> dict:
    device, load_before = pick_device(), uptime()
    held = load_cifar10(data_dir, limit)
    held.test_images, held.test_labels = held.test_images[:test_limit], held.test_labels[:test_limit]
    rows = []
    for top_blocks in blocks:
        config = replace(CachedConfig(), top_blocks=top_blocks)
        print(f"== top {top_blocks} blocks ==", flush=True)
        result = run_seed(0, held, size, epochs, config, device)
        rows.append({"top_blocks": top_blocks, "probe_acc": result["probe_acc"], "test_acc": result["test_acc"],
                     "cache_s": result["cache_s"], "probe_s": result["probe_s"], "top_s": result["top_s"],
                     "top_s_per_epoch": result["top_s"] / epochs, "curve": result["curve"],
                     "activation_shape": result["activation_shape"]})
    payload = {"rows": rows, "size": size, "epochs": epochs, "train_images": len(held.train_labels),
               "test_images": len(held.test_labels), "seed": 0, "config": asdict(CachedConfig()),
               "load_before": load_before, "load_after": uptime(), "environment": environment()}
    save(name if device == "cpu" else f"{name}_{device}", payload)
    return payload


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--blocks", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--limit", type=int, default=10_000, help="training images")
    parser.add_argument("--test-limit", type=int, default=5_000, help="held-out images")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--name", default="transfer_depth")
    args = parser.parse_args(argv)
    run(args.data, tuple(args.blocks), args.limit, args.test_limit, args.size, args.epochs, args.name)


if __name__ == "__main__":
    main()
