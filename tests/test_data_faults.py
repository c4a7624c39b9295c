"""Corrupt caches heal, and odd folders get a sentence: what a power cut, a full disk or a hostile user leaves behind.

A broken cache (truncated, empty, another dtype or shape, another dataset or folder, a pickle) is rebuilt from the
source files with one logged line; when the sources are gone too, the error is one line that says what to do.
Status commands tell a good cache from a broken one. Folders that cannot make a classifier are refused with a
sentence, never a traceback.
"""
from __future__ import annotations

import io
import json
import logging
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared.cli import main
from shared.data import downloads, folder, load_dataset
from tests.test_data_downloads import tiny_cifar_archive, use_files

pytestmark = pytest.mark.filterwarnings("ignore:.*(not readable images|cannot be read):UserWarning")
DEAD_PID = 2 ** 22 + 12345  # above Linux's pid_max default: no process has it


# ----------------------------------------------------------------------------------------- downloaded datasets
@pytest.fixture
def cifar(tmp_path, monkeypatch):
    """A data dir with a tiny CIFAR-10 archive, loaded once so that arrays.npz exists; returns (root, first load)."""
    archive = tiny_cifar_archive()
    use_files(monkeypatch, "cifar10", {"cifar-10-python.tar.gz": archive})
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / "cifar-10-python.tar.gz").write_bytes(archive)
    return tmp_path, load_dataset("cifar10", data_dir=tmp_path, progress=False)


def _cache(root):
    return root / "cifar10" / downloads.ARRAYS_FILE


def _savez(path, **arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())


def _truncate(path, keep=0.5):
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])


def _flip_byte_in_images(path):
    """Change one pixel inside train_images.npy, leaving the zip's directory intact: only its CRC can tell."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("train_images.npy")
    offset = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _foreign(path):   # fashion-mnist-shaped arrays where CIFAR-10's belong
    _savez(path, train_images=np.zeros((4, 28, 28, 1), np.uint8), train_labels=np.zeros(4, np.int64),
           test_images=np.zeros((2, 28, 28, 1), np.uint8), test_labels=np.zeros(2, np.int64))


def _float_images(path):
    _savez(path, train_images=np.zeros((4, 32, 32, 3), np.float32), train_labels=np.zeros(4, np.int64),
           test_images=np.zeros((2, 32, 32, 3), np.float32), test_labels=np.zeros(2, np.int64))


def _bad_labels(path):
    _savez(path, train_images=np.zeros((4, 32, 32, 3), np.uint8), train_labels=np.array([0, 1, 2, 99]),
           test_images=np.zeros((2, 32, 32, 3), np.uint8), test_labels=np.zeros(2, np.int64))


def _pickled(path):
    _savez(path, train_images=np.array([object()], dtype=object), train_labels=np.zeros(1, np.int64),
           test_images=np.zeros((1, 32, 32, 3), np.uint8), test_labels=np.zeros(1, np.int64))


def _other_dataset(path):
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    _savez(path, **{**arrays, "dataset": np.array("cifar100")})


FAULTS = {"truncated": _truncate, "empty": lambda path: path.write_bytes(b""), "foreign": _foreign,
          "float images": _float_images, "labels out of range": _bad_labels, "pickled": _pickled,
          "another dataset's": _other_dataset, "flipped byte (CRC)": _flip_byte_in_images,
          "missing keys": lambda path: _savez(path, train_images=np.zeros((1, 32, 32, 3), np.uint8))}


@pytest.mark.parametrize("fault", FAULTS)
def test_broken_arrays_cache_is_rebuilt_from_the_archive(cifar, fault, caplog):
    root, first = cifar
    FAULTS[fault](_cache(root))
    with caplog.at_level(logging.WARNING, logger="shared.data"):
        again = load_dataset("cifar10", data_dir=root, progress=False)
    [line] = [record.getMessage() for record in caplog.records]
    assert str(_cache(root)) in line and "rebuilding it from the downloaded files" in line
    np.testing.assert_array_equal(again.train.images, first.train.images)
    np.testing.assert_array_equal(again.test.labels, first.test.labels)
    assert downloads.status("cifar10", root) == ("ready", "")
    assert sorted(p.name for p in _cache(root).parent.iterdir()) == ["arrays.npz", "cifar-10-python.tar.gz"]


@pytest.mark.parametrize("fault", ["truncated", "empty", "foreign", "labels out of range", "missing keys"])
def test_data_list_tells_a_broken_cache_from_a_good_one(cifar, fault, capsys):
    root, _ = cifar
    assert main(["data", "list", "--data-dir", str(root)]) == 0
    assert f"{'cifar10':<16} [ready]" in capsys.readouterr().out
    FAULTS[fault](_cache(root))
    assert main(["data", "list", "--data-dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert f"{'cifar10':<16} [cache broken]" in out and str(_cache(root)) in out
    assert "the next load rebuilds it from the downloaded files" in out


def test_broken_cache_without_its_archive_offline_is_one_sentence(cifar, monkeypatch, capsys):
    root, _ = cifar
    (root / "cifar10" / "cifar-10-python.tar.gz").unlink()
    _truncate(_cache(root))
    state, detail = downloads.status("cifar10", root)
    assert state == "cache broken" and "downloads the files again" in detail and "delete it" in detail

    def offline(*args, **kwargs):
        raise downloads.urllib.error.URLError("no network")

    monkeypatch.setattr(downloads.urllib.request, "urlopen", offline)
    assert main(["data", "info", "cifar10", "--data-dir", str(root)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert "could not download" in err and str(root / "cifar10" / "cifar-10-python.tar.gz") in err


def test_a_killed_download_or_parse_leaves_nothing_behind(cifar):
    root, _ = cifar
    folder = root / "cifar10"
    leftovers = [folder / f".cifar-10-python.tar.gz.{DEAD_PID}.a1b2c3d4.tmp.gz",
                 folder / f".arrays.npz.{DEAD_PID}.e5f6g7h8.tmp.npz"]
    for path in leftovers:
        path.write_bytes(b"\0" * 4096)
    load_dataset("cifar10", data_dir=root, progress=False)
    assert sorted(p.name for p in folder.iterdir()) == ["arrays.npz", "cifar-10-python.tar.gz"]


def test_cache_path_taken_by_a_folder_is_one_sentence(cifar):
    root, _ = cifar
    _cache(root).unlink()
    (_cache(root) / "something").mkdir(parents=True)
    with pytest.raises(downloads.DatasetUnavailable, match="cannot write the parsed arrays.*delete it"):
        load_dataset("cifar10", data_dir=root, progress=False)


# ----------------------------------------------------------------------------------------------- image folders
def write_images(directory, count, size=(12, 10), seed=0):
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(directory / f"{i:02d}.png")


@pytest.fixture
def pets(tmp_path):
    root = tmp_path / "pets"
    for index, name in enumerate(("cats", "dogs")):
        write_images(root / "train" / name, 10, seed=index)
    return root


def _load(root, data_dir, **options):
    return load_dataset(f"folder:{root}", image_size=8, data_dir=data_dir, progress=False, **options)


def _folder_cache(data_dir):
    [cache] = (data_dir / "folders").iterdir()
    return cache


def _replace_npy(name, array):
    def fault(cache):
        np.save(cache / name, array)
    return fault


def _meta(change):
    def fault(cache):
        meta = json.loads((cache / "meta.json").read_text())
        change(meta)
        (cache / "meta.json").write_text(json.dumps(meta))
    return fault


FOLDER_FAULTS = {
    "truncated images": lambda cache: _truncate(cache / "images.npy"),
    "empty images": lambda cache: (cache / "images.npy").write_bytes(b""),
    "empty meta": lambda cache: (cache / "meta.json").write_bytes(b""),
    "meta not JSON": lambda cache: (cache / "meta.json").write_bytes(b"\xff\xfe{"),
    "float images": _replace_npy("images.npy", np.zeros((20, 8, 8, 3), np.float32)),
    "images of another size": _replace_npy("images.npy", np.zeros((20, 4, 4, 3), np.uint8)),
    "labels out of range": _replace_npy("labels.npy", np.full(20, 7, np.int64)),
    "pickled splits": _replace_npy("splits.npy", np.array([object()] * 20, dtype=object)),
    "unknown split names": _replace_npy("splits.npy", np.array(["elsewhere"] * 20)),
    "another folder's": _meta(lambda meta: meta.update(root="/somewhere/else")),
    "wrong count": _meta(lambda meta: meta.update(count=3)),
}


@pytest.mark.parametrize("fault", FOLDER_FAULTS)
def test_broken_folder_cache_is_decoded_again(pets, tmp_path, fault, caplog):
    first = _load(pets, tmp_path / "data")
    cache = _folder_cache(tmp_path / "data")
    FOLDER_FAULTS[fault](cache)
    with caplog.at_level(logging.WARNING, logger="shared.data"):
        again = _load(pets, tmp_path / "data")
    [line] = [record.getMessage() for record in caplog.records]
    assert str(cache) in line and f"rebuilding it from {pets}" in line
    assert any("was broken" in note for note in again.notes)
    np.testing.assert_array_equal(again.train.images, first.train.images)
    np.testing.assert_array_equal(again.val.labels, first.val.labels)
    assert not _load(pets, tmp_path / "data").notes    # healed: the next load is clean


def test_unfinished_folder_cache_and_stale_temporary_files(pets, tmp_path):
    first = _load(pets, tmp_path / "data")
    cache = _folder_cache(tmp_path / "data")
    (cache / "meta.json").unlink()                                   # killed before meta.json: unfinished
    stale = cache / f".images.npy.{DEAD_PID}.abcd1234.tmp.npy"
    stale.write_bytes(b"\0" * 1000)                                  # killed mid-write
    again = _load(pets, tmp_path / "data")
    np.testing.assert_array_equal(again.train.images, first.train.images)
    assert sorted(p.name for p in cache.iterdir()) == ["images.npy", "labels.npy", "meta.json", "splits.npy"]


def test_folder_cache_path_taken_by_a_file(pets, tmp_path):
    _load(pets, tmp_path / "data")
    cache = _folder_cache(tmp_path / "data")
    for path in cache.iterdir():
        path.unlink()
    cache.rmdir()
    cache.write_text("not a folder")
    with pytest.raises(ValueError, match=f"cannot write the decoded images to {cache}"):
        _load(pets, tmp_path / "data")


def test_one_class_folder_is_a_sentence(tmp_path):
    write_images(tmp_path / "one" / "train" / "cats", 6)
    with pytest.raises(ValueError, match="one class folder \\(cats\\); a classifier needs at least two"):
        _load(tmp_path / "one", tmp_path / "data")


def test_one_class_folder_in_compare_is_one_line(tmp_path, capsys):
    write_images(tmp_path / "one" / "train" / "cats", 6)
    code = main(["compare", "--dataset", f"folder:{tmp_path / 'one'}", "--models", "cnn", "--frameworks", "torch",
                 "--epochs", "1", "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("workbook compare: error:") and "at least two" in err[-1]
    assert not any("Traceback" in line for line in err)


def test_symlink_loops_and_broken_links_are_counted_not_raised(pets, tmp_path):
    os.symlink("loop_b", pets / "train" / "cats" / "loop_a")
    os.symlink("loop_a", pets / "train" / "cats" / "loop_b")
    os.symlink(".", pets / "train" / "dogs" / "self")                 # a link to a folder: not a file, ignored
    os.symlink("gone.png", pets / "train" / "dogs" / "dangling.png")
    with pytest.warns(UserWarning, match="skipped 3 entries that cannot be read"):
        ds = _load(pets, tmp_path / "data")
    assert len(ds.train) + len(ds.val) + len(ds.test) == 20
    assert any("symbolic link" in note for note in ds.notes)


def test_zero_byte_and_non_image_files_are_skipped(pets, tmp_path):
    (pets / "train" / "cats" / "empty.png").write_bytes(b"")
    (pets / "train" / "dogs" / "half.png").write_bytes((pets / "train" / "dogs" / "00.png").read_bytes()[:40])
    with pytest.warns(UserWarning, match="skipped 2 file"):
        ds = _load(pets, tmp_path / "data")
    assert len(ds.train) + len(ds.val) + len(ds.test) == 20


def test_unreadable_class_folder_is_a_sentence(pets, tmp_path, monkeypatch):
    real_scandir = os.scandir

    def denied(path):
        if str(path).endswith("dogs"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(folder.os, "scandir", denied)
    with pytest.raises(ValueError, match="cannot read .*dogs \\(Permission denied\\); check its permissions"):
        _load(pets, tmp_path / "data")


def test_non_utf8_names(pets, tmp_path):
    odd_file = os.fsencode(pets / "train" / "cats") + b"/caf\xe9.png"
    Image.new("RGB", (12, 10), (9, 9, 9)).save(os.fsdecode(odd_file))
    ds = _load(pets, tmp_path / "data")                              # a file name is only a path: it loads
    assert len(ds.train) + len(ds.val) + len(ds.test) == 21
    write_images(Path(os.fsdecode(os.fsencode(pets / "train") + b"/b\xe9tes")), 3)
    with pytest.raises(ValueError, match="not valid UTF-8; rename it"):
        _load(pets, tmp_path / "data")


def test_a_class_folder_that_is_a_file_is_not_a_class(pets, tmp_path):
    (pets / "train" / "birds").write_text("a file, not a folder")
    assert _load(pets, tmp_path / "data").class_names == ["cats", "dogs"]


def test_empty_val_folder_and_too_few_images_are_sentences(pets, tmp_path):
    (pets / "val" / "cats").mkdir(parents=True)
    with pytest.raises(ValueError, match="val/ holds no readable image; add images to it"):
        _load(pets, tmp_path / "data")
    tiny = tmp_path / "tiny"
    for name in ("cats", "dogs"):
        write_images(tiny / "train" / name, 2)
    with pytest.raises(ValueError, match="too few images \\(4\\).*split is empty"):
        _load(tiny, tmp_path / "data")
