"""`workbook predict IMAGE... --checkpoint DIR`: classify image files with a checkpoint saved by `workbook compare`.

Each image gets its top-k classes (`--top-k`, the API's `top_k`, default 5) and, when the answer should not be
trusted, a sentence that says so (shared/ood.py). A file that is not a usable image gets a line on stderr and
the others go on; the exit status is then 1.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    from shared.predictor import DEFAULT_TOP_K

    parser = subparsers.add_parser("predict", help="classify image files with a saved checkpoint")
    parser.add_argument("images", nargs="+", help="image files (PNG, JPEG, ...)")
    parser.add_argument("--checkpoint", required=True,
                        help="a checkpoint directory: reports/<run>/checkpoints/<row> (has manifest.json)")
    parser.add_argument("--top-k", type=int, default=DEFAULT_TOP_K,
                        help=f"how many classes to print per image (default {DEFAULT_TOP_K}, as the API's top_k)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per image")
    parser.set_defaults(handler=run)


def _line(path: Path, result) -> str:
    text = f"{path}: " + ", ".join(f"{label} {100 * p:.1f}%" for label, p, _ in result.top)
    return text + (f"\n  note: {result.caution}" if result.caution else "")


def run(args) -> int:
    from shared.checkpoints import CheckpointError
    from shared.images import BadImage, open_image
    from shared.ood import known_classes
    from shared.predictor import check_top_k, load_predictor

    try:
        check_top_k(args.top_k)
        predictor = load_predictor(args.checkpoint)
    except (ValueError, CheckpointError) as error:   # CheckpointError is a ValueError: a sentence either way
        print(f"error: {str(error).replace('top_k', '--top-k')}", file=sys.stderr)
        return 2
    manifest = predictor.manifest
    if not args.json:
        print(f"{manifest.name} ({manifest.framework}) knows {manifest.num_classes} classes: "
              f"{known_classes(predictor.class_names, limit=50)}")
    status = 0
    side = max(manifest.input.height, manifest.input.width)
    for name in args.images:
        path = Path(name)
        try:
            result = predictor.predict(open_image(path, draft=side), args.top_k)
        except BadImage as error:
            print(f"{path}: {error.message}", file=sys.stderr)
            status = 1
            continue
        if args.json:
            print(json.dumps({"image": str(path), **result.as_dict()}))
        else:
            print(_line(path, result))
    return status
