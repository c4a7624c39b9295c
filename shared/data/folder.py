"""`folder:PATH`: an image folder, e.g. a custom dataset from Kaggle.

Layout: PATH/train/<class>/<any image file>, optionally PATH/val/<class>/ (or valid/, validation/) and
PATH/test/<class>/. Classes are the sub-folders of train/, sorted. Without val/ or test/, those splits are
carved out of train/ (stratified, from the seed).

Every image becomes RGB (grayscale is repeated, palette and alpha images are composited onto white) and is
resized to image_size x image_size (bilinear, antialiased; the aspect ratio is not kept). Files that do not
decode are skipped and counted, and so are entries that cannot be read (symbolic link loops, broken links). The
first load decodes with a progress bar, over two processes when the folder is large, and caches the arrays
(shared/data/folder_cache.py): a changed folder is decoded again, an unchanged one loads from the cache
(memory-mapped) in a fraction of a second, and a broken cache is decoded again with a logged line.

A folder that cannot make a classifier (one class, a class without images, an empty val/ or test/, too few images
for every split, class names that are not UTF-8, a folder that cannot be read) is refused with a sentence that
says what to change.
"""
from __future__ import annotations

import multiprocessing
import os
import warnings
from pathlib import Path

import numpy as np

from shared.data import folder_cache
from shared.data.splits import DatasetSplits, Split, stratified_split, stratified_subset

SPLIT_DIRS = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}
MAX_DEFAULT_IMAGE_SIZE = 128   # default image_size: the first image's shorter side, at most this
POOL_THRESHOLD = 2000          # fewer files than this decode in this process (a pool costs ~1 s to start)
POOL_CHUNK = 256


def _find_split_dirs(root: Path) -> dict[str, Path]:
    found = {}
    for split, names in SPLIT_DIRS.items():
        for name in names:
            if (root / name).is_dir():
                found[split] = root / name
                break
    return found


def _class_dirs(split_dir: Path) -> list[Path]:
    """The class folders of a split folder, sorted; a sentence (ValueError) when it cannot be read or a name is not
    UTF-8 (class names are labels in reports and the API)."""
    try:
        folders = sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as error:
        raise ValueError(f"cannot read {split_dir} ({error.strerror or error}); check its permissions.") from None
    for folder in folders:
        try:
            folder.name.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"the class folder {os.fsencode(folder.name)!r} in {split_dir} has a name that is not valid "
                             "UTF-8; rename it (class names are labels in reports and the API).") from None
    return folders


def _list_files(split_dir: Path, class_names: list[str], unreadable: list[str]) -> list[tuple[str, int, int, int]]:
    """(relative path, class index, size, mtime_ns) of every file under split_dir/<class>/, sorted by path.
    Entries that cannot be read (a symbolic link loop, a broken link) are appended to `unreadable` instead."""
    listing = []
    known = set(class_names)
    for class_dir in _class_dirs(split_dir):
        if class_dir.name not in known:
            raise ValueError(f"{class_dir} is a class that train/ does not have; the classes are the folders in "
                             f"train/: {', '.join(class_names)}.")
        index = class_names.index(class_dir.name)
        try:
            with os.scandir(class_dir) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError as error:
            raise ValueError(f"cannot read {class_dir} ({error.strerror or error}); check its permissions.") from None
        for entry in entries:
            relative = f"{split_dir.name}/{class_dir.name}/{entry.name}"
            if entry.name.startswith("."):
                continue
            try:
                if not entry.is_file():  # follows links: a folder, or a link to one
                    if entry.is_symlink() and not os.path.isdir(entry.path):
                        unreadable.append(f"{relative} (a broken symbolic link)")
                    continue
                stat = entry.stat()
            except OSError as error:  # a symbolic link loop, a file gone meanwhile
                unreadable.append(f"{relative} ({error.strerror or error})")
                continue
            listing.append((relative, index, stat.st_size, stat.st_mtime_ns))
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
    class_names = [folder.name for folder in _class_dirs(dirs["train"])]
    if not class_names:
        raise ValueError(f"{dirs['train']} has no class folders; put each class's images in train/<class>/.")
    if len(class_names) < 2:
        raise ValueError(f"{dirs['train']} has one class folder ({class_names[0]}); a classifier needs at least two: "
                         f"add a folder of images for each other class.")
    unreadable: list[str] = []
    listing = [entry for split in ("train", "val", "test") if split in dirs
               for entry in _list_files(dirs[split], class_names, unreadable)]
    if not listing:
        raise ValueError(f"no files under {root}: expected images in {dirs['train']}/<class>/.")
    image_size = image_size or _default_image_size(root, listing)
    split_names = [folder.name for folder in dirs.values()]
    images, labels, split_of, skipped, cache, rebuilt = folder_cache.load_or_build(
        root, listing, image_size, class_names, split_names, data_dir,
        decode=lambda: _decode_all(root, listing, image_size, progress, workers))
    notes = [rebuilt] if rebuilt else []
    if unreadable:
        notes.append(f"skipped {len(unreadable)} entries that cannot be read, e.g. {unreadable[0]}")
        warnings.warn(f"{root}: {notes[-1]}", stacklevel=2)
    if skipped:
        notes.append(f"skipped {len(skipped)} file(s) that are not readable images, e.g. {skipped[0]}")
        warnings.warn(f"{root}: {notes[-1]}", stacklevel=2)

    parts = {split: np.flatnonzero(split_of == dirs[split].name) if split in dirs else None
             for split in ("train", "val", "test")}
    empty_dirs = [dirs[split].name for split in ("val", "test") if parts[split] is not None and not len(parts[split])]
    if empty_dirs:
        raise ValueError(f"{root}/{empty_dirs[0]}/ holds no readable image; add images to it (one folder per class) "
                         f"or remove it, and that split is carved out of train/.")
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
    wanted = {"train": True, "val": parts["val"] is not None or val_fraction > 0,   # a fraction of 0 asks for none
              "test": parts["test"] is not None or test_fraction > 0}
    too_small = [split for split, indices in chosen.items() if wanted[split] and not len(indices)]
    if too_small:
        raise ValueError(f"{root} has too few images ({len(labels)}) to give every split some: the {too_small[0]} "
                         f"split is empty. Add images, or give it its own {too_small[0]}/ folder.")
    splits = {k: Split(np.ascontiguousarray(images[np.sort(v)]), labels[np.sort(v)]) for k, v in chosen.items()}
    return DatasetSplits(name=f"folder:{root}", class_names=class_names, source=str(cache), notes=notes, **splits)
