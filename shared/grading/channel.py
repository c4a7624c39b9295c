"""How a grading process tells the parent what happened: JSON lines appended to a file the parent tails.

A file (not a pipe) works the same for a forked and a spawned process on every platform, and each message is
written by reopening the file, so a learner's code that closes file descriptors does not cut the line. The parent
trusts nothing it cannot parse (shared/grading/isolation.py checks the order of the messages).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

MAX_MESSAGE_BYTES = 256_000  # a report with a huge message is cut before it is sent (see child.cap_report)


def send(path: str | os.PathLike, kind: str, **fields) -> None:
    line = (json.dumps({"kind": kind, **fields}, default=str) + "\n").encode()
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, line)
    finally:
        os.close(descriptor)


class Reader:
    """Reads the complete lines appended since the last call."""

    def __init__(self, path: Path):
        self.path, self.offset, self.partial = Path(path), 0, b""

    def messages(self) -> list[dict]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        found = []
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                message = {"kind": "garbage", "text": line[:200].decode(errors="replace")}
            found.append(message if isinstance(message, dict) else {"kind": "garbage", "text": str(message)[:200]})
        return found
