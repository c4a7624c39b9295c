"""What the data caches share: the error for a cache that cannot be used, and the line logged when one is rebuilt.

Caches are derived from source files (a downloaded archive, an image folder), so a broken one is never fatal: the
loader logs one line saying which file and why, and rebuilds it from the sources. Only when the sources are gone too
does the user get an error, and it says what to delete or download.
"""
from __future__ import annotations

import logging

log = logging.getLogger("shared.data")


class BrokenCache(ValueError):
    """A cache file that cannot be used. The message completes "<the cache file> ...": it says what is wrong."""


def rebuilding(cache, problem: BrokenCache, source) -> None:
    """Log the one line that says a broken cache is being rebuilt, and from what."""
    log.warning("%s %s; rebuilding it from %s", cache, problem, source)
