"""`cifar10`, `cifar100` and `fashion-mnist`: downloaded once from their official sources, checked, cached, parsed.

Files live in `<data dir>/<dataset>/` under their official names. `cifar100` has 100 fine classes;
`cifar100-coarse` is the same archive (same folder, same images) labelled with its 20 superclasses.
A download goes to a temporary file next to the target (shared.atomic) and is moved into place only once its
MD5 matches (the MD5s are the ones torchvision lists), so an interrupted or corrupt download never looks like a
finished one. Offline, the error names the URL and the exact
path where the file can be placed by hand. Parsed arrays are cached next to the files (`arrays.npz`), so only
the first load reads the archives. A cache that cannot be read, or that holds arrays of another shape, dtype or
dataset, is logged and rebuilt from the files (downloading them again if they are gone); `status` tells a good
cache from a broken one without loading it.
"""
from __future__ import annotations

import gzip
import hashlib
import pickle
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.atomic import atomic_write, remove_stale
from shared.data.caches import BrokenCache, rebuilding

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
ARRAY_KEYS = ("train_images", "train_labels", "test_images", "test_labels")


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
    remove_stale(folder)  # what a killed download or parse left behind
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
    """Download into a temporary file next to the target, check the MD5, then move it into place atomically."""
    from tqdm import tqdm

    def download_into(temporary: Path) -> None:
        digest = hashlib.md5()
        with open(temporary, "wb") as out, urllib.request.urlopen(remote.url, timeout=TIMEOUT_S) as response:
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

    try:
        atomic_write(target, download_into)
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        raise DatasetUnavailable(
            f"could not download {remote.url} ({error}). If this machine is offline, download that file on "
            f"another machine and place it at {target} (then `workbook data download {target.parent.name}` checks "
            "it).") from error


def status(name: str, root: Path) -> tuple[str, str]:
    """(state, detail) of `name` in `root` without loading it: "ready", "downloaded" (not parsed yet), "cache broken",
    "partly downloaded" or "not downloaded"; `detail` says what is wrong and what happens next ("" when all is well)."""
    folder = dataset_dir(name, root)
    cache = folder / ARRAYS_FILE
    missing = [remote.filename for remote in SOURCES[files_of(name)] if not (folder / remote.filename).is_file()]
    if cache.exists():
        try:
            _check_headers(name, cache)
            return "ready", ""
        except BrokenCache as problem:
            then = ("the next load rebuilds it from the downloaded files" if not missing else
                    f"the next load downloads the files again and rebuilds it (or delete it and run `workbook data "
                    f"download {name}`)")
            return "cache broken", f"{cache} {problem}: {then}"
    if not missing:
        return "downloaded", ""
    if len(missing) < len(SOURCES[files_of(name)]):
        return "partly downloaded", f"missing {', '.join(missing)}: run `workbook data download {name}`"
    return "not downloaded", ""


def load_arrays(name: str, root: Path, progress: bool = True):
    """((train_images, train_labels), (test_images, test_labels), class_names, source) for `name`."""
    folder = dataset_dir(name, root)
    cache = folder / ARRAYS_FILE
    remove_stale(folder)  # what a killed download or parse left behind
    arrays = _cached_arrays(name, cache)
    if arrays is None:
        files = download(name, root, progress)
        parse = {"cifar10": _parse_cifar10, "cifar100": _parse_cifar100}.get(files_of(name), _parse_fashion_mnist)
        _save_arrays(cache, *parse(files))
        arrays = _read_arrays(name, cache)
    labels = label_key(name)
    train = (arrays["train_images"], arrays[f"train_{labels}"].astype(np.int64))
    test = (arrays["test_images"], arrays[f"test_{labels}"].astype(np.int64))
    return train, test, list(CLASS_NAMES[name]), str(folder)


def label_key(name: str) -> str:
    """The arrays' name for `name`'s labels: CIFAR-100's coarse labels sit beside its fine ones in one cache."""
    return "coarse_labels" if name == "cifar100-coarse" else "labels"


def _cached_arrays(name: str, cache: Path) -> dict | None:
    """The checked arrays of `cache`; None when there is none, or it is broken (logged: it is then rebuilt)."""
    if not cache.exists():
        return None
    try:
        return _read_arrays(name, cache)
    except BrokenCache as problem:
        rebuilding(cache, problem, "the downloaded files")
        return None


def _read_arrays(name: str, cache: Path) -> dict:
    """Every array of `cache`, read in full (so the zip's checksums are checked) and checked against `name`."""
    _check_headers(name, cache)  # first: a header that claims more data than the file holds allocates nothing
    try:
        with open(cache, "rb") as handle, np.load(handle) as archive:  # our handle: closed whatever np.load raises
            arrays = {key: archive[key] for key in archive.files}
    except Exception as error:  # noqa: BLE001 — a damaged file fails in many ways (zip, npy header, I/O, pickle)
        raise BrokenCache(f"cannot be read ({type(error).__name__}: {error})") from None
    _check_arrays(name, cache, {key: (array.shape, array.dtype) for key, array in arrays.items()}, arrays.__getitem__)
    return arrays


def _check_headers(name: str, cache: Path) -> None:
    """`_read_arrays`'s checks from the .npy headers and the labels, without reading the images (for `status`)."""
    try:
        with zipfile.ZipFile(cache) as archive:
            shapes = {}
            for info in archive.infolist():
                with archive.open(info) as handle:
                    version = np.lib.format.read_magic(handle)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0) else
                                   np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(handle)
                    needed = handle.tell() + int(np.prod(shape)) * dtype.itemsize
                if info.file_size < needed:
                    raise ValueError(f"{info.filename} is truncated")
                shapes[info.filename.removesuffix(".npy")] = (shape, dtype)
        with open(cache, "rb") as handle, np.load(handle) as archive:
            _check_arrays(name, cache, shapes, archive.__getitem__)
    except BrokenCache:
        raise
    except Exception as error:  # noqa: BLE001
        raise BrokenCache(f"cannot be read ({type(error).__name__}: {error})") from None


def _check_arrays(name: str, cache: Path, shapes: dict, read) -> None:
    """BrokenCache unless `shapes` ({key: (shape, dtype)}; `read(key)` loads one) are `name`'s train and test split."""
    labels = label_key(name)
    missing = [key.replace("labels", labels) for key in ARRAY_KEYS if key.replace("labels", labels) not in shapes]
    if missing:
        raise BrokenCache(f"lacks {', '.join(missing)}")
    if "dataset" in shapes and str(read("dataset")) != cache.parent.name:
        raise BrokenCache(f"holds the arrays of {str(read('dataset'))!r}, not {cache.parent.name!r}")
    expected, classes = IMAGE_SHAPES[name], len(CLASS_NAMES[name])
    for split in ("train", "test"):
        shape, dtype = shapes[f"{split}_images"]
        if dtype != np.uint8 or len(shape) != 4 or tuple(shape[1:]) != expected or shape[0] == 0:
            raise BrokenCache(f"holds {split} images of {dtype} {tuple(shape)}, not uint8 (N, "
                              f"{', '.join(map(str, expected))}) with N > 0: it belongs to another dataset or version")
        labels_shape, labels_dtype = shapes[f"{split}_{labels}"]
        if tuple(labels_shape) != (shape[0],) or not np.issubdtype(labels_dtype, np.integer):
            raise BrokenCache(f"holds {split} labels of {labels_dtype} {tuple(labels_shape)}, not {shape[0]} integers")
        values = read(f"{split}_{labels}")
        if values.min() < 0 or values.max() >= classes:
            raise BrokenCache(f"holds {split} {labels} from {values.min()} to {values.max()}, not 0 to {classes - 1}")


def _save_arrays(cache: Path, train, test, extra: dict | None = None) -> None:
    def save(temporary: Path) -> None:
        np.savez(temporary, train_images=train[0], train_labels=train[1], test_images=test[0], test_labels=test[1],
                 dataset=np.array(cache.parent.name), **(extra or {}))

    try:
        atomic_write(cache, save)
    except OSError as error:
        raise DatasetUnavailable(f"cannot write the parsed arrays to {cache} ({error}); if something else is at "
                                 f"that path, delete it.") from None


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
