"""Where things live: the repository root, the graded trees and the per-user cache."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS_DIR = REPO_ROOT / "solutions"
WEEKS_DIR = REPO_ROOT / "weeks"
WORKBOOK_DIR = REPO_ROOT / ".workbook"  # grades, caches of generated data; ignored by git


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The data directory: `override`, else $WORKBOOK_DATA_DIR, else ~/.cache/workbook/data."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get("WORKBOOK_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "workbook" / "data"
