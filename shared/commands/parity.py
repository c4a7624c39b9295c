"""`workbook parity cnn|lstm`: the PyTorch model and its Keras twin, trained from the same weights on the same
batches, their losses side by side step by step (shared/compare/parity.py)."""
from __future__ import annotations

import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser("parity", help="do a model's PyTorch and Keras twins train the same? losses "
                                                  "step by step", description=__doc__)
    parser.add_argument("model", choices=["cnn", "lstm"], help="the week-2 model to check")
    parser.add_argument("--steps", type=int, default=20, help="training steps compared (default 20)")
    parser.add_argument("--batch-size", type=int, help="default: the recipe's (64)")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(handler=run)


def run(args) -> int:
    from shared.compare.parity import format_result, run_parity

    if args.steps < 1 or (args.batch_size is not None and args.batch_size < 1):
        print("workbook parity: error: --steps and --batch-size must be at least 1", file=sys.stderr)
        return 2
    result = run_parity(args.model, steps=args.steps, batch_size=args.batch_size, seed=args.seed)
    print(format_result(result))
    return 0 if result.ok else 1
