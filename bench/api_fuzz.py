"""Malformed uploads against `workbook serve`, before and after: how many 5xx, is the server still up, its memory.

    .venv/bin/python bench/api_fuzz.py                          # this tree
    .venv/bin/python bench/api_fuzz.py --tree /tmp/before .     # two source trees, one after the other
    .venv/bin/python bench/api_fuzz.py --dry-run                # 30 files: does it run?

For each source tree the script starts `workbook serve --checkpoint` (bench/api_latency.py's small CNN) in a
subprocess, sends the files of tests/image_fuzz.py (about 280: truncations, flipped bytes, bombs, odd modes and
sizes, garbage) twice, and counts the answers by status; a status of 0 means the connection failed (a server
that died). The server's RSS is read after 20 valid requests and after each pass. `--out FILE.md` writes the
table (bench/results/api_fuzz.md).
"""
from __future__ import annotations

import argparse
import collections
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api_latency import ROOT, Server, load, uploads, write_checkpoint  # noqa: E402

from tests.image_fuzz import fuzz_server, malformed_uploads  # noqa: E402


def measure(tree: Path, checkpoint: Path, files) -> dict:
    import httpx

    server = Server(tree, checkpoint)
    try:
        with httpx.Client(timeout=30) as client:
            server.wait(client)
        result = fuzz_server(server.url, server.process.pid, files, uploads()["png 32x32"], passes=2)
        result["alive"] = server.process.poll() is None
        return result
    finally:
        server.stop()


def row(tree: Path, result: dict, count: int) -> str:
    statuses = collections.Counter(status for _, status, _ in result["answers"])
    fives = sum(n for status, n in statuses.items() if status >= 500 or status == 0)
    before, first, second = result["rss_mb"]
    counts = ", ".join(f"{status}: {n}" for status, n in sorted(statuses.items()))
    return (f"| {tree} | {count} x 2 | {fives} | {counts} | {'yes' if result['alive'] else 'NO'} | "
            f"{before:.0f} -> {first:.0f} -> {second:.0f} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", type=Path, default=[], help="a source tree (repeatable)")
    parser.add_argument("trees", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    parser.add_argument("--dry-run", action="store_true", help="the first 30 files only")
    args = parser.parse_args(argv)
    trees = [tree.resolve() for tree in (args.tree + args.trees)] or [ROOT]
    files = malformed_uploads(seed=0)[:30 if args.dry_run else None]
    lines = ["| tree | files | 5xx or dropped | answers by status | up after | server RSS MB (warm -> pass 1 -> 2) |",
             "|---|---|---|---|---|---|"]
    loads = [load()]
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = write_checkpoint(Path(tmp) / "cnn")
        for tree in trees:
            print(f"fuzzing {tree}", flush=True)
            lines.append(row(tree, measure(tree, checkpoint, files), len(files)))
            loads.append(load())
    text = "\n".join([*lines, "", "load while measuring:", *(f"    {line}" for line in loads)])
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
