"""`workbook serve --checkpoint DIR`: the inference API (shared/api.py) on http://HOST:PORT (docs at /docs)."""
from __future__ import annotations

import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser("serve", help="serve a saved checkpoint over HTTP (POST /predict, GET /health)")
    parser.add_argument("--checkpoint", required=True,
                        help="a checkpoint directory: reports/<run>/checkpoints/<row> (has manifest.json)")
    parser.add_argument("--host", default="127.0.0.1", help="127.0.0.1 (this machine only) unless you mean it")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-upload-mb", type=float, default=10.0, help="larger uploads get 413")
    parser.set_defaults(handler=run)


def run(args) -> int:
    import uvicorn

    from shared.api import CheckpointError, create_app

    try:
        app = create_app(args.checkpoint, max_bytes=int(args.max_upload_mb * 1024 * 1024))
    except CheckpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"serving {args.checkpoint} on http://{args.host}:{args.port} (POST /predict, GET /health, docs at /docs)")
    uvicorn.run(app, host=args.host, port=args.port)
    return 0
