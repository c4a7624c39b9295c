"""shared.atomic: a failed write leaves the old file and no temporary; a killed writer's temporary is removed on the
next start, a live writer's is not."""
from __future__ import annotations

import os

import pytest

from shared.atomic import atomic_write, remove_stale, write_text

DEAD_PID = 2 ** 22 + 12345  # above Linux's pid_max default: no process has it


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path):
    path = write_text(tmp_path / "results.json", "old")

    def dies(temporary):
        temporary.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, dies)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_remove_stale_removes_only_dead_writers_leftovers(tmp_path):
    (tmp_path / "sub").mkdir()
    dead = tmp_path / f".model.pt.{DEAD_PID}.k2j4h1x9.tmp.pt"
    dead_deeper = tmp_path / "sub" / f".meta.json.{DEAD_PID}.abcdefgh.tmp.json"
    alive = tmp_path / f".model.pt.{os.getpid()}.zz9xq1aa.tmp.pt"   # this process: a write in progress
    others = [tmp_path / "model.pt", tmp_path / ".hidden", tmp_path / f"report.{DEAD_PID}.tmp"]
    for path in (dead, dead_deeper, alive, *others):
        path.write_bytes(b"x" * 100)
    assert remove_stale(tmp_path) == [dead]                           # not recursive: sub/ is another writer's
    assert remove_stale(tmp_path / "sub") == [dead_deeper]
    assert alive.exists() and all(path.exists() for path in others)
    assert remove_stale(tmp_path / "missing") == []
