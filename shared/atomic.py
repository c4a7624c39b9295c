"""One atomic write for every file the workbook saves: checkpoints, manifests, results, reports, grades, caches.

It is the recipe week 3 teaches (solutions/week3/checkpoint.py): write to a temporary file in the target's own
folder, then `os.replace` it over the target, which is atomic when both are on one filesystem. A crash, a
`kill -9` or a full disk halfway through leaves the previous file intact, never half a file. The temporary name
carries the writer's process id (`.<name>.<pid>.<random>.tmp<suffix>`), so that `remove_stale` can tell the
leftovers of a killed writer from a write still in progress in another process.

    from shared.atomic import atomic_write, write_text
    write_text(path, json.dumps(results))
    atomic_write(path, lambda temporary: torch.save(state, temporary))
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Callable

_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.tmp")


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call `write(temporary)` for a temporary path next to `path`, then move it into place atomically.

    The temporary path ends with `path`'s suffix (Keras insists on `.keras`). On any error, Ctrl-C included,
    the temporary file is removed, the error re-raised and an existing file at `path` left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.",
                                         suffix=f".tmp{path.suffix}")
    os.close(handle)
    try:
        write(Path(temporary))
        os.chmod(temporary, _mode(path))  # mkstemp makes files private (0600); keep the usual permissions
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _mode(path: Path) -> int:
    """The existing file's permissions, or what a plain open() would give a new file (0666 minus the umask)."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda temporary: temporary.write_bytes(data))


def write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(directory: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that killed writers left in `directory` (not recursive); return them. A temporary
    file whose writer is still running is left alone."""
    removed = []
    try:
        entries = list(Path(directory).iterdir())
    except OSError:  # missing, not a folder, or unreadable: nothing we may clean there
        return removed
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match and entry.is_file() and not _alive(int(match["pid"])):
            try:
                entry.unlink(missing_ok=True)
            except OSError:  # not ours to delete: leave it
                continue
            removed.append(entry)
    return removed
