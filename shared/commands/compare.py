"""`workbook compare`: train every registered model the same way and write results.json + report.md/.html."""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys

# Idle OpenMP threads sleep instead of spinning: with more busy processes than cores, spinning threads made
# 2-thread PyTorch training 6x slower than 1 thread. Read when torch loads, so it is set before any import of it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from shared.compare.config import FRAMEWORKS, QUICK, CompareConfig  # noqa: E402
from shared.data import check_name, dataset_choices  # noqa: E402


def _names(values: list[str] | None) -> tuple[str, ...] | None:
    """`--models cnn lstm` and `--models cnn,lstm` both work."""
    return None if values is None else tuple(name for value in values for name in value.split(",") if name)


def register(subparsers) -> None:
    parser = subparsers.add_parser("compare", help="train and compare the models side by side; write a report",
                                   description=__doc__)
    defaults = CompareConfig()
    parser.add_argument("--quick", action="store_true",
                        help=f"small and fast (size {QUICK['size']}, {QUICK['epochs']} epochs): CI and a first look")
    parser.add_argument("--dataset", default=defaults.dataset, help=f"one of: {', '.join(dataset_choices())}")
    parser.add_argument("--models", nargs="+", help=f"registered model names (default: {' '.join(defaults.models)})")
    parser.add_argument("--frameworks", nargs="+", help=f"any of: {' '.join(FRAMEWORKS)} (default: both)")
    parser.add_argument("--epochs", type=int, help="epochs for every row (default: each row's recipe)")
    parser.add_argument("--seeds", type=int, nargs="+", metavar="S",
                        help=f"training seeds: every row trains once per seed; the table shows mean ± std "
                             f"(default {' '.join(map(str, defaults.seeds))})")
    parser.add_argument("--seed", type=int, help="one training seed (the same as --seeds S)")
    parser.add_argument("--data-seed", type=int, default=defaults.data_seed,
                        help="the images (shapes), the split and any subset: the same for every training seed")
    parser.add_argument("--size", type=int, help=f"images in total before the split (default {defaults.size}; 0: all)")
    parser.add_argument("--image-size", type=int, help="resize images to this square size (default: the dataset's)")
    parser.add_argument("--batch-size", type=int, help="batch size for every row (default: each row's recipe)")
    parser.add_argument("--learning-rate", type=float,
                        help="(peak) learning rate for every row (default: each row's recipe)")
    parser.add_argument("--latency-repeats", type=int,
                        help=f"timed repeats per latency median (default {defaults.latency_repeats})")
    parser.add_argument("--data-efficiency", type=int, nargs="*", metavar="N",
                        help="training images per class for the CNN-vs-transfer plot, 0 meaning all "
                             f"(default {' '.join(map(str, defaults.data_efficiency))}; the flag alone, with no N, skips it)")
    parser.add_argument("--nproc", type=int, default=defaults.nproc,
                        help="train each PyTorch row with N data-parallel processes (torch.distributed, torchrun's "
                             "machinery); rows whose trainer cannot, and Keras rows, run on one")
    parser.add_argument("--mine", action="store_true", help="add your own weeks/ implementations as rows")
    parser.add_argument("--out", help="output directory (default: reports/<timestamp>/); a directory of an interrupted "
                                      "run with the same settings is continued, keeping its finished rows")
    parser.add_argument("--resume", metavar="DIR", help="continue the interrupted run in DIR with the settings it was "
                                                        "started with: finished rows are kept, the rest trained")
    parser.add_argument("--no-progress", action="store_true", help="one line per row, no progress bars")
    parser.add_argument("--dry-run", action="store_true", help="print the planned rows and stop")
    parser.set_defaults(handler=run)


def _resumed_config(args) -> CompareConfig:
    """`--resume DIR`: the run's own settings; only --no-progress may be added (anything else would change rows)."""
    from shared.compare.resume import saved_config

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    defaults = vars(parser.parse_args(["compare"]))
    given = [f"--{name.replace('_', '-')}" for name, value in vars(args).items()
             if name not in ("resume", "no_progress", "handler", "dry_run") and value != defaults.get(name)]
    if given:
        raise ValueError(f"--resume {args.resume} continues the run with the settings it was started with; leave out "
                         f"{', '.join(given)}.")
    return dataclasses.replace(saved_config(args.resume), progress=not args.no_progress)


def config_from_args(args) -> CompareConfig:
    from shared.compare.config import check_choices

    if args.resume:
        return _resumed_config(args)
    options = dict(QUICK) if args.quick else {}
    if args.epochs is not None:
        options["epochs"] = args.epochs
    if args.size is not None:
        options["size"] = args.size or None
    if args.latency_repeats is not None:
        options["latency_repeats"] = args.latency_repeats
    if args.data_efficiency is not None:
        if any(count < 0 for count in args.data_efficiency):
            raise ValueError(f"--data-efficiency counts must be 0 (all) or more, got {args.data_efficiency}.")
        options["data_efficiency"] = tuple(args.data_efficiency)
    if args.models:
        options["models"] = _names(args.models)
    if args.frameworks:
        options["frameworks"] = check_choices("--frameworks", _names(args.frameworks), FRAMEWORKS)
    if args.seeds and args.seed is not None:
        raise ValueError("give either --seed S or --seeds S [S ...], not both.")
    if args.seeds or args.seed is not None:
        options["seeds"] = tuple(args.seeds or [args.seed])
    for name, value in (("--epochs", options.get("epochs")), ("--batch-size", args.batch_size),
                        ("--latency-repeats", options.get("latency_repeats"))):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}.")
    if args.nproc < 1:
        raise ValueError(f"--nproc must be at least 1, got {args.nproc}.")
    if args.learning_rate is not None and not args.learning_rate > 0:
        raise ValueError(f"--learning-rate must be positive, got {args.learning_rate}.")
    return dataclasses.replace(
        CompareConfig(), dataset=check_name(args.dataset), data_seed=args.data_seed, image_size=args.image_size,
        batch_size=args.batch_size, learning_rate=args.learning_rate, mine=args.mine, out=args.out, nproc=args.nproc,
        progress=not args.no_progress, **options)


def _dry_run(config: CompareConfig) -> int:
    from shared.compare.plan import plan_rows

    specs, notes = plan_rows(config)
    for spec in specs:
        print(f"{spec.row_id}: " + (f"skipped: {spec.skip_reason}" if spec.skip_reason else "would train"))
    for note in notes:
        print(f"note: {note}")
    return 0


def run(args) -> int:
    from shared.data.downloads import DatasetUnavailable

    try:
        config = config_from_args(args)
        if args.dry_run:
            return _dry_run(config)
        from shared.compare import run_compare

        results, out_dir = run_compare(config)
    except ValueError as error:
        print(f"workbook compare: error: {error}", file=sys.stderr)
        return 2
    except DatasetUnavailable as error:  # offline and not downloaded: the message says what to do
        print(f"workbook compare: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {out_dir}/results.json, {out_dir}/report.md and {out_dir}/report.html")
    failed = [row["id"] for row in results["rows"] if row["status"] == "failed" and row["impl"] == "reference"]
    return 1 if failed else 0
