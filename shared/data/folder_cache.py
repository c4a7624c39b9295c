"""The cache of a decoded image folder: `<data dir>/folders/<name>-<key>/` with images.npy (uint8, memory-mapped
on load), labels.npy, splits.npy and meta.json, each written atomically and meta.json last.

The key hashes the folder's path, every file's name, size and modification time, and the image size, so a changed
folder gets a new cache. A cache without meta.json is unfinished; one that cannot be read, holds arrays of another
shape or dtype, or describes another folder is broken: both are decoded again, a broken one with a logged line.
Temporary files of a killed writer are removed first.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from shared.atomic import atomic_write, remove_stale, write_text
from shared.data.caches import BrokenCache, rebuilding

CACHE_VERSION = 2    # bump when the decoding or the cache's files change: old caches are not reused
META = "meta.json"   # written last: a cache without it is unfinished


def cache_dir(root: Path, listing, image_size: int, data_dir: Path) -> Path:
    digest = hashlib.sha1(json.dumps([CACHE_VERSION, str(root), image_size, listing]).encode()).hexdigest()
    return Path(data_dir) / "folders" / f"{root.name or 'folder'}-{digest[:16]}"


def _build_cache(root: Path, listing, image_size: int, class_names: list[str], cache: Path, decode) -> None:
    decoded = decode()
    ok = np.array([image is not None for image in decoded], dtype=bool)
    skipped = [listing[i][0] for i in np.flatnonzero(~ok)]
    if not ok.any():
        raise ValueError(f"none of the {len(listing)} files under {root} is a readable image.")
    images = np.stack([image for image in decoded if image is not None])      # uint8 (N, S, S, 3)
    labels = np.array([entry[1] for entry, good in zip(listing, ok) if good], dtype=np.int64)
    splits = np.array([entry[0].split("/", 1)[0] for entry, good in zip(listing, ok) if good])
    meta = {"version": CACHE_VERSION, "root": str(root), "image_size": image_size, "class_names": class_names,
            "count": len(labels), "skipped": skipped}
    try:
        (cache / META).unlink(missing_ok=True)  # the cache is unfinished until meta.json is back
        for name, array in (("images.npy", images), ("labels.npy", labels), ("splits.npy", splits)):
            atomic_write(cache / name, lambda temporary, array=array: np.save(temporary, array))
        write_text(cache / META, json.dumps(meta))
    except OSError as error:
        raise ValueError(f"cannot write the decoded images to {cache} ({error.strerror or error}); check that the "
                         f"data directory is writable, or delete {cache} if something else is there.") from None


def _read_cache(cache: Path, root: Path, listing, image_size: int, class_names: list[str], split_names) -> tuple:
    """(images memory-mapped, labels, split of each image, skipped files) of a finished cache, checked against the
    folder it should hold; BrokenCache says what does not fit."""
    try:
        meta = json.loads((cache / META).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BrokenCache(f"has an unreadable {META} ({type(error).__name__}: {error})") from None
    expected = {"version": CACHE_VERSION, "root": str(root), "image_size": image_size, "class_names": class_names}
    if not isinstance(meta, dict) or any(meta.get(key) != value for key, value in expected.items()):
        found = meta.get("root") if isinstance(meta, dict) else None
        raise BrokenCache(f"has a {META} of another folder or version ({found!r}), not {str(root)!r}")
    count, skipped = meta.get("count"), meta.get("skipped")
    if not (isinstance(count, int) and isinstance(skipped, list) and count + len(skipped) == len(listing)):
        raise BrokenCache(f"counts {count!r} images and {len(skipped or [])} skipped files, not the folder's "
                          f"{len(listing)} files")
    arrays = {}
    for name, mmap in (("images.npy", "r"), ("labels.npy", None), ("splits.npy", None)):
        try:
            arrays[name] = np.load(cache / name, mmap_mode=mmap)
        except Exception as error:  # noqa: BLE001 — truncated, empty, a foreign or pickled file
            raise BrokenCache(f"has an unreadable {name} ({type(error).__name__}: {error})") from None
    images, labels, splits = arrays["images.npy"], arrays["labels.npy"], arrays["splits.npy"]
    if images.dtype != np.uint8 or images.shape != (count, image_size, image_size, 3):
        raise BrokenCache(f"has images of {images.dtype} {images.shape}, not uint8 {(count, image_size, image_size, 3)}")
    if labels.shape != (count,) or labels.dtype != np.int64 or (count and not 0 <= labels.min() <= labels.max()
                                                                    < len(class_names)):
        raise BrokenCache(f"has labels of {labels.dtype} {labels.shape} that do not fit {len(class_names)} classes")
    if splits.shape != (count,) or splits.dtype.kind != "U" or not set(np.unique(splits)) <= set(split_names):
        raise BrokenCache(f"has split names that are not {', '.join(split_names)}")
    return images, labels, splits, skipped


def load_or_build(root: Path, listing, image_size: int, class_names: list[str], split_names, data_dir: Path,
                  decode) -> tuple:
    """(images, labels, split of each image, skipped files, cache folder, note or None) from the folder's cache,
    built first with `decode()` (a list of uint8 (S, S, 3) arrays or None, one per listed file) when the cache is
    missing or broken; the note says when a broken cache was rebuilt."""
    cache = cache_dir(root, listing, image_size, data_dir)
    remove_stale(cache)  # what a killed decoding left behind
    if (cache / META).exists():
        try:
            return (*_read_cache(cache, root, listing, image_size, class_names, split_names), cache, None)
        except BrokenCache as problem:
            rebuilding(cache, problem, root)
            note = f"the cache {cache} was broken ({problem}) and has been decoded again"
    else:
        note = None
    _build_cache(root, listing, image_size, class_names, cache, decode)
    try:
        return (*_read_cache(cache, root, listing, image_size, class_names, split_names), cache, note)
    except BrokenCache as problem:  # written a moment ago: the disk or another process is at fault
        raise ValueError(f"the cache just written to {cache} {problem}; delete {cache} and load again.") from None
