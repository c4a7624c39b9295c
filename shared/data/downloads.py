"""`cifar10`, `cifar100` and `fashion-mnist`: downloaded once from their official sources, checked, cached, parsed.

Files live in `<data dir>/<dataset>/` under their official names. `cifar100` has 100 fine classes;
`cifar100-coarse` is the same archive (same folder, same images) labelled with its 20 superclasses.
A download goes to a `.part` file next to the target and is renamed only once its MD5 matches (the MD5s are the
ones torchvision lists), so an interrupted or corrupt download never looks like a finished one. Offline, the error names the URL and the exact
path where the file can be placed by hand. Parsed arrays are cached next to the files (`arrays.npz`), so only
the first load reads the archives.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TIMEOUT_S = 30
CHUNK_BYTES = 1 << 20
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"


@dataclass(frozen=True)
class RemoteFile:
    url: str
    md5: str

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


SOURCES: dict[str, list[RemoteFile]] = {
    "cifar10": [RemoteFile("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                           "c58f30108f718f92721af3b95e74349a")],
    "cifar100": [RemoteFile("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                            "eb9058c3a382ffc7106e4002c42a8d85")],
    "fashion-mnist": [
        RemoteFile(FASHION_URL + "train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        RemoteFile(FASHION_URL + "train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        RemoteFile(FASHION_URL + "t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        RemoteFile(FASHION_URL + "t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ],
}
LABEL_VARIANTS = {"cifar100-coarse": "cifar100"}   # a name that reads another dataset's files with other labels
CIFAR100_FINE = (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can castle "
    "caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin elephant "
    "flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster man "
    "maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree "
    "plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper "
    "snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger tractor train trout "
    "tulip turtle wardrobe whale willow_tree wolf woman worm").split()
CIFAR100_COARSE = (
    "aquatic_mammals fish flowers food_containers fruit_and_vegetables household_electrical_devices "
    "household_furniture insects large_carnivores large_man-made_outdoor_things large_natural_outdoor_scenes "
    "large_omnivores_and_herbivores medium_mammals non-insect_invertebrates people reptiles small_mammals trees "
    "vehicles_1 vehicles_2").split()
CLASS_NAMES = {
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
    "cifar100": CIFAR100_FINE,
    "cifar100-coarse": CIFAR100_COARSE,
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"],
}
IMAGE_SHAPES = {"cifar10": (32, 32, 3), "cifar100": (32, 32, 3), "cifar100-coarse": (32, 32, 3),
                "fashion-mnist": (28, 28, 1)}
SPLIT_SIZES = {"cifar10": (50_000, 10_000), "cifar100": (50_000, 10_000), "cifar100-coarse": (50_000, 10_000),
               "fashion-mnist": (60_000, 10_000)}  # official train, test
ARRAYS_FILE = "arrays.npz"


class DatasetUnavailable(RuntimeError):
    """A dataset file is missing, cannot be downloaded, or fails its checksum. The message says what to do."""


def files_of(name: str) -> str:
    """The dataset whose files `name` reads: itself, or the one it is a label variant of."""
    return LABEL_VARIANTS.get(name, name)


def is_remote(name: str) -> bool:
    """Whether `name` is a dataset of official files that this module downloads."""
    return files_of(name) in SOURCES


def dataset_dir(name: str, root: Path) -> Path:
    return Path(root) / files_of(name)


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def is_downloaded(name: str, root: Path) -> bool:
    folder = dataset_dir(name, root)
    return (folder / ARRAYS_FILE).exists() or all((folder / f.filename).exists() for f in SOURCES[files_of(name)])


def download(name: str, root: Path, progress: bool = True) -> list[Path]:
    """Make sure every file of `name` is in `root/<name>/` with the right MD5; download what is missing."""
    folder = dataset_dir(name, root)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for remote in SOURCES[files_of(name)]:
        target = folder / remote.filename
        if target.exists():
            _verify(target, remote)
        else:
            _fetch(remote, target, progress)
        paths.append(target)
    return paths


def _verify(path: Path, remote: RemoteFile) -> None:
    actual = md5sum(path)
    if actual != remote.md5:
        raise DatasetUnavailable(
            f"{path} has MD5 {actual}, expected {remote.md5}: the file is corrupt or not the official one. "
            f"Delete it and run `workbook data download {path.parent.name}` again, or download {remote.url} by "
            f"hand and place it at {path}.")


def _fetch(remote: RemoteFile, target: Path, progress: bool) -> None:
    """Download to a temporary file in the target's folder, check the MD5, then rename into place."""
    from tqdm import tqdm

    handle, part = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    try:
        digest = hashlib.md5()
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(remote.url, timeout=TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=target.name, disable=not progress) as bar:
                for block in iter(lambda: response.read(CHUNK_BYTES), b""):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
        if digest.hexdigest() != remote.md5:
            raise DatasetUnavailable(
                f"downloaded {remote.url} but its MD5 is {digest.hexdigest()}, expected {remote.md5}. "
                f"Try again later, or download the file by hand and place it at {target}.")
        os.replace(part, target)
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        raise DatasetUnavailable(
            f"could not download {remote.url} ({error}). If this machine is offline, download that file on "
            f"another machine and place it at {target} (then `workbook data download {target.parent.name}` checks "
            "it).") from error
    finally:
        if os.path.exists(part):
            os.remove(part)


def load_arrays(name: str, root: Path, progress: bool = True):
    """((train_images, train_labels), (test_images, test_labels), class_names, source) for `name`."""
    folder = dataset_dir(name, root)
    cache = folder / ARRAYS_FILE
    if not cache.exists():
        files = download(name, root, progress)
        parse = {"cifar10": _parse_cifar10, "cifar100": _parse_cifar100}.get(files_of(name), _parse_fashion_mnist)
        _save_arrays(cache, *parse(files))
    labels = "coarse_labels" if name == "cifar100-coarse" else "labels"
    with np.load(cache) as arrays:
        if f"train_{labels}" not in arrays:
            raise DatasetUnavailable(f"{cache} has no {labels}: it was written by another version. Delete it; the "
                                     "next load parses the archive again.")
        train = (arrays["train_images"], arrays[f"train_{labels}"].astype(np.int64))
        test = (arrays["test_images"], arrays[f"test_{labels}"].astype(np.int64))
    return train, test, list(CLASS_NAMES[name]), str(folder)


def _save_arrays(cache: Path, train, test, extra: dict | None = None) -> None:
    handle, part = tempfile.mkstemp(prefix="arrays.", suffix=".npz.part", dir=cache.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez(out, train_images=train[0], train_labels=train[1], test_images=test[0], test_labels=test[1],
                     **(extra or {}))
        os.replace(part, cache)
    finally:
        if os.path.exists(part):
            os.remove(part)


def _parse_cifar10(files: list[Path]):
    """The python-pickle tarball: data_batch_1..5 (train) and test_batch, each 10,000 rows of 3,072 bytes."""
    batches: dict[str, dict] = {}
    with tarfile.open(files[0], "r:gz") as archive:
        for member in archive.getmembers():
            base = member.name.rsplit("/", 1)[-1]
            if base.startswith("data_batch_") or base == "test_batch":
                batches[base] = pickle.load(archive.extractfile(member), encoding="latin1")
    train_names = sorted(n for n in batches if n.startswith("data_batch_"))
    if not train_names or "test_batch" not in batches:
        raise DatasetUnavailable(f"{files[0]} does not contain the CIFAR-10 python batches; delete it and download "
                                 "it again.")

    def to_arrays(names):
        data = np.concatenate([np.asarray(batches[n]["data"], dtype=np.uint8) for n in names])
        labels = np.concatenate([np.asarray(batches[n]["labels"], dtype=np.int64) for n in names])
        return np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)), labels  # (N, H, W, C)

    return to_arrays(train_names), to_arrays(["test_batch"]), None


def _parse_cifar100(files: list[Path]):
    """The python-pickle tarball: `train` (50,000 rows) and `test` (10,000), each with fine and coarse labels.

    Returns (train, test, extra) where train/test carry the fine labels and extra the coarse ones."""
    parts: dict[str, dict] = {}
    with tarfile.open(files[0], "r:gz") as archive:
        for member in archive.getmembers():
            base = member.name.rsplit("/", 1)[-1]
            if base in ("train", "test", "meta") and member.isfile():
                parts[base] = pickle.load(archive.extractfile(member), encoding="latin1")
    if "train" not in parts or "test" not in parts:
        raise DatasetUnavailable(f"{files[0]} does not contain the CIFAR-100 python files train and test; delete it "
                                 "and download it again.")
    if "meta" in parts and list(parts["meta"].get("fine_label_names", CIFAR100_FINE)) != CIFAR100_FINE:
        raise DatasetUnavailable(f"{files[0]} lists other class names than CIFAR-100's; delete it and download it "
                                 "again.")

    def to_arrays(part):
        data = np.asarray(part["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # (N, H, W, C)
        return (np.ascontiguousarray(data), np.asarray(part["fine_labels"], dtype=np.int64),
                np.asarray(part["coarse_labels"], dtype=np.int64))

    train_x, train_fine, train_coarse = to_arrays(parts["train"])
    test_x, test_fine, test_coarse = to_arrays(parts["test"])
    return ((train_x, train_fine), (test_x, test_fine),
            {"train_coarse_labels": train_coarse, "test_coarse_labels": test_coarse})


def read_idx(path: Path) -> np.ndarray:
    """An idx file (gzip-compressed): magic 0x00 0x00 0x08 ndim, big-endian int32 sizes, then uint8 data."""
    with gzip.open(path, "rb") as handle:
        raw = handle.read()
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise DatasetUnavailable(f"{path} is not an idx file of unsigned bytes; delete it and download it again.")
    ndim = raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _parse_fashion_mnist(files: list[Path]):
    train_images, train_labels, test_images, test_labels = (read_idx(f) for f in files)
    return ((train_images[..., None].copy(), train_labels.astype(np.int64)),
            (test_images[..., None].copy(), test_labels.astype(np.int64)), None)
