"""`workbook serve --run reports/<run>` (every row, and the demo page) or `--checkpoint DIR` (one model): the
inference API of shared/api.py on http://HOST:PORT, the page at /, the API's documentation at /docs."""
from __future__ import annotations

import sys

MMAP_THRESHOLD = 4 * 1024 * 1024   # freed blocks this large go back to the system at once (see _return_large_blocks)
DEFAULT_THREADS = 1   # torch threads per request: one image is too small to share, and requests run side by side


def register(subparsers) -> None:
    parser = subparsers.add_parser("serve", help="serve a run's models (or one checkpoint) over HTTP, with a demo page")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="a run directory written by `workbook compare`: reports/<run>")
    source.add_argument("--checkpoint", help="one checkpoint directory: reports/<run>/checkpoints/<row>")
    parser.add_argument("--host", default="127.0.0.1", help="127.0.0.1 (this machine only) unless you mean it")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-upload-mb", type=float, default=10.0, help="larger uploads get 413")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help=f"PyTorch threads per forward pass (default {DEFAULT_THREADS}: lowest latency under "
                             f"load on a small machine; more can help one client with a large model)")
    parser.set_defaults(handler=run)


def _return_large_blocks() -> None:
    """glibc keeps freed memory for reuse, in one heap per thread: after one large upload, the worker thread that
    decoded it would hold its pixels for ever. Blocks of MMAP_THRESHOLD and more are mapped for each use and
    unmapped when freed instead, so the server's memory goes back down after each image (Linux/glibc only)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").mallopt(-3, MMAP_THRESHOLD)   # -3: M_MMAP_THRESHOLD (malloc.h)
    except (OSError, AttributeError):   # another C library: its own policy applies
        pass


def run(args) -> int:
    if args.max_upload_mb <= 0 or args.threads < 1 or not 0 < args.port < 65536:
        print("error: --max-upload-mb must be positive, --threads at least 1, --port 1 to 65535", file=sys.stderr)
        return 2
    import torch
    import uvicorn

    from shared.api import CheckpointError, ServeError, create_app

    torch.set_num_threads(args.threads)
    _return_large_blocks()
    try:
        app = create_app(args.checkpoint, run_dir=args.run, max_bytes=int(args.max_upload_mb * 1024 * 1024))
    except (CheckpointError, ServeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    served = app.state.served
    for reason in served.skipped:
        print(f"left out {reason}", file=sys.stderr)
    models = ", ".join(served.rows)
    print(f"serving {args.run or args.checkpoint}: {len(served.rows)} model{'s' * (len(served.rows) != 1)} "
          f"({models}) on http://{args.host}:{args.port}/ (the demo page; POST /predict, GET /rows, docs at /docs)",
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port)
    return 0
