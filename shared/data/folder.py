"""`folder:PATH`: an image folder, e.g. a custom dataset from Kaggle.

Layout: PATH/train/<class>/<any image file>, optionally PATH/val/<class>/ (or valid/, validation/) and
PATH/test/<class>/. Classes are the sub-folders of train/, sorted. Without val/ or test/, those splits are
carved out of train/ (stratified, from the seed).

Every image becomes RGB (grayscale is repeated, palette and alpha images are composited onto white) and is
resized to image_size x image_size (bilinear, antialiased; the aspect ratio is not kept). Files that do not
decode are skipped and counted. The first load decodes with a progress bar, over two processes when the folder
is large, and writes the arrays to `<data dir>/folders/<name>-<key>/`; the key hashes the folder's path, every
file's name, size and modification time, and the image size, so a changed folder is decoded again and an
unchanged one loads from the cache (memory-mapped) in a fraction of a second.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import warnings
from pathlib import Path

import numpy as np

from shared.atomic import atomic_write, write_text
from shared.data.splits import DatasetSplits, Split, stratified_split, stratified_subset

SPLIT_DIRS = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}
MAX_DEFAULT_IMAGE_SIZE = 128   # default image_size: the first image's shorter side, at most this
POOL_THRESHOLD = 2000          # fewer files than this decode in this process (a pool costs ~1 s to start)
POOL_CHUNK = 256
CACHE_VERSION = 1              # bump when the decoding changes, so old caches are not reused


def _find_split_dirs(root: Path) -> dict[str, Path]:
    found = {}
    for split, names in SPLIT_DIRS.items():
        for name in names:
            if (root / name).is_dir():
                found[split] = root / name
                break
    return found


def _list_files(split_dir: Path, class_names: list[str]) -> list[tuple[str, int, int, int]]:
    """(relative path, class index, size, mtime_ns) of every file under split_dir/<class>/, sorted by path."""
    listing = []
    known = set(class_names)
    for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if class_dir.name not in known:
            raise ValueError(f"{class_dir} is a class that train/ does not have; the classes are the folders in "
                             f"train/: {', '.join(class_names)}.")
        index = class_names.index(class_dir.name)
        with os.scandir(class_dir) as entries:
            for entry in entries:
                if entry.is_file() and not entry.name.startswith("."):
                    stat = entry.stat()
                    listing.append((f"{split_dir.name}/{class_dir.name}/{entry.name}", index, stat.st_size,
                                    stat.st_mtime_ns))
    listing.sort()
    return listing


def decode_image(path: str | Path, image_size: int) -> np.ndarray | None:
    """uint8 (S, S, 3) RGB pixels of the image at `path`, or None when it is not a readable image."""
    from shared.images import BadImage, image_pixels

    try:
        return image_pixels(path, size=image_size, channels=3)
    except (BadImage, OSError):
        return None


def _decode_job(job: tuple[str, int]) -> np.ndarray | None:
    return decode_image(*job)


def _default_image_size(root: Path, listing) -> int:
    from PIL import Image

    for relative, *_ in listing:
        try:
            with Image.open(root / relative) as image:  # reads the header only: no decoding
                return min(min(image.size), MAX_DEFAULT_IMAGE_SIZE)
        except Exception:  # noqa: BLE001 — not an image: try the next file
            continue
    raise ValueError(f"no readable image in {root / 'train'}.")


def _cache_dir(root: Path, listing, image_size: int, data_dir: Path) -> Path:
    digest = hashlib.sha1(json.dumps([CACHE_VERSION, str(root), image_size, listing]).encode()).hexdigest()
    return Path(data_dir) / "folders" / f"{root.name or 'folder'}-{digest[:16]}"


def _decode_all(root: Path, listing, image_size: int, progress: bool, workers: int | None):
    from tqdm import tqdm

    jobs = [(str(root / relative), image_size) for relative, *_ in listing]
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    bar = dict(total=len(jobs), desc=f"decoding {root.name}", unit="img", disable=not progress, mininterval=0.5)
    if workers > 1 and len(jobs) >= POOL_THRESHOLD:
        # spawn, not fork: the parent may already run torch or TensorFlow threads
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            return list(tqdm(pool.imap(_decode_job, jobs, chunksize=POOL_CHUNK), **bar))
    return [decode_image(*job) for job in tqdm(jobs, **bar)]


def _build_cache(root: Path, listing, image_size: int, cache: Path, progress: bool, workers: int | None):
    decoded = _decode_all(root, listing, image_size, progress, workers)
    ok = np.array([image is not None for image in decoded], dtype=bool)
    skipped = [listing[i][0] for i in np.flatnonzero(~ok)]
    if not ok.any():
        raise ValueError(f"none of the {len(listing)} files under {root} is a readable image.")
    images = np.stack([image for image in decoded if image is not None])      # uint8 (N, S, S, 3)
    labels = np.array([entry[1] for entry, good in zip(listing, ok) if good], dtype=np.int64)
    splits = np.array([entry[0].split("/", 1)[0] for entry, good in zip(listing, ok) if good])
    # Each file is written atomically and meta.json last: a cache without meta.json is unfinished, and is
    # decoded again on the next load.
    for name, array in (("images.npy", images), ("labels.npy", labels), ("splits.npy", splits)):
        atomic_write(cache / name, lambda temporary, array=array: np.save(temporary, array))
    write_text(cache / "meta.json", json.dumps({"root": str(root), "skipped": skipped}))


def load_folder(path: str | os.PathLike, *, image_size: int | None = None, seed: int = 0, size: int | None = None,
                val_fraction: float = 0.1, test_fraction: float = 0.1, data_dir: Path,
                progress: bool = True, workers: int | None = None) -> DatasetSplits:
    """Load an image folder (see the module docstring) as train/val/test splits."""
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise ValueError(f"folder dataset {root} does not exist or is not a directory.")
    dirs = _find_split_dirs(root)
    if "train" not in dirs:
        raise ValueError(f"{root} has no train/ folder; expected {root}/train/<class>/<images> "
                         "(and optionally val/ and test/ laid out the same way).")
    class_names = sorted(p.name for p in dirs["train"].iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_names:
        raise ValueError(f"{dirs['train']} has no class folders; put each class's images in train/<class>/.")
    listing = [entry for split in ("train", "val", "test") if split in dirs
               for entry in _list_files(dirs[split], class_names)]
    if not listing:
        raise ValueError(f"no files under {root}: expected images in {dirs['train']}/<class>/.")
    image_size = image_size or _default_image_size(root, listing)
    cache = _cache_dir(root, listing, image_size, data_dir)
    if not (cache / "meta.json").exists():
        _build_cache(root, listing, image_size, cache, progress, workers)
    images = np.load(cache / "images.npy", mmap_mode="r")
    labels = np.load(cache / "labels.npy")
    split_of = np.load(cache / "splits.npy")
    skipped = json.loads((cache / "meta.json").read_text())["skipped"]
    notes = []
    if skipped:
        notes.append(f"skipped {len(skipped)} file(s) that are not readable images, e.g. {skipped[0]}")
        warnings.warn(f"{root}: {notes[-1]}", stacklevel=2)

    parts = {split: np.flatnonzero(split_of == dirs[split].name) if split in dirs else None
             for split in ("train", "val", "test")}
    train_counts = np.bincount(labels[parts["train"]], minlength=len(class_names))
    empty = [name for name, count in zip(class_names, train_counts) if count == 0]
    if empty:
        raise ValueError(f"class folder(s) with no readable image in {dirs['train']}: {', '.join(empty)}. "
                         "Add images or remove the folder.")
    train_idx = parts["train"]
    keep, val_cut, test_cut = stratified_split(labels[train_idx], (0.0 if parts["val"] is not None else val_fraction,
                                                                   0.0 if parts["test"] is not None else test_fraction),
                                               seed)
    chosen = {"train": train_idx[keep],
              "val": parts["val"] if parts["val"] is not None else train_idx[val_cut],
              "test": parts["test"] if parts["test"] is not None else train_idx[test_cut]}
    if size is not None:
        fraction = min(1.0, size / len(labels))
        chosen = {k: v[stratified_subset(labels[v], round(fraction * len(v)), seed)] for k, v in chosen.items()}
    splits = {k: Split(np.ascontiguousarray(images[np.sort(v)]), labels[np.sort(v)]) for k, v in chosen.items()}
    return DatasetSplits(name=f"folder:{root}", class_names=class_names, source=str(cache), notes=notes, **splits)
