"""`workbook predict IMAGE... --checkpoint DIR`: classify image files with a checkpoint saved by `workbook compare`."""
from __future__ import annotations

import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("predict", help="classify image files with a saved checkpoint")
    parser.add_argument("images", nargs="+", help="image files (PNG, JPEG, ...)")
    parser.add_argument("--checkpoint", required=True,
                        help="a checkpoint directory: reports/<run>/checkpoints/<row> (has manifest.json)")
    parser.add_argument("--top-k", type=int, default=3, help="how many classes to print per image")
    parser.add_argument("--json", action="store_true", help="print one JSON object per image")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from shared.api import BadImage, CheckpointError, load_predictor
    from shared.images import open_image

    if args.top_k < 1:
        print("--top-k must be at least 1", file=sys.stderr)
        return 2
    try:
        predictor = load_predictor(args.checkpoint)
    except CheckpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    status = 0
    for name in args.images:
        path = Path(name)
        try:
            predictions = predictor.predict(open_image(path), args.top_k)
        except (OSError, BadImage) as error:
            print(f"{path}: {getattr(error, 'message', error)}", file=sys.stderr)
            status = 1
            continue
        if args.json:
            print(json.dumps({"image": str(path), "predictions": [
                {"label": label, "probability": round(p, 6), "index": i} for label, p, i in predictions]}))
        else:
            print(f"{path}: " + ", ".join(f"{label} {100 * p:.1f}%" for label, p, _ in predictions))
    return status
