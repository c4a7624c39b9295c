"""cifar10 and fashion-mnist through the real code path, from tiny archives in the genuine formats (no network)."""
from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import tarfile
import urllib.error

import numpy as np
import pytest

from shared.data import downloads, load_dataset

ROWS_PER_BATCH = 20


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def tiny_cifar_archive(seed: int = 0) -> bytes:
    """A cifar-10-python.tar.gz with 5 train batches and a test batch of ROWS_PER_BATCH rows each."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        def add(name, payload):
            data = pickle.dumps(payload, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))

        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            data = rng.integers(0, 256, (ROWS_PER_BATCH, 3072), dtype=np.uint8)
            data[0, :1024], data[0, 1024:2048], data[0, 2048:] = 10, 20, 30  # first image: flat RGB (10, 20, 30)
            add(name, {"batch_label": name, "data": data, "labels": (np.arange(ROWS_PER_BATCH) % 10).tolist(),
                       "filenames": [f"{i}.png" for i in range(ROWS_PER_BATCH)]})
        add("batches.meta", {"label_names": downloads.CLASS_NAMES["cifar10"], "num_vis": 3072})
    return buffer.getvalue()


def idx_gz(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def use_files(monkeypatch, name: str, files: dict[str, bytes]) -> None:
    """Point the checksum table of `name` at these files (tests never see the official ones)."""
    patched = [downloads.RemoteFile(f"https://example.invalid/{filename}", _md5(data))
               for filename, data in files.items()]
    monkeypatch.setitem(downloads.SOURCES, name, patched)


def test_cifar10_from_a_tarball_in_the_data_dir(tmp_path, monkeypatch):
    archive = tiny_cifar_archive()
    use_files(monkeypatch, "cifar10", {"cifar-10-python.tar.gz": archive})
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / "cifar-10-python.tar.gz").write_bytes(archive)
    ds = load_dataset("cifar10", data_dir=tmp_path, val_fraction=0.1)
    assert ds.image_shape == (32, 32, 3) and ds.class_names[0] == "airplane"
    assert (len(ds.train), len(ds.val), len(ds.test)) == (90, 10, 20)
    assert ds.test.images[0].tolist()[0][0] == [10, 20, 30]          # channel planes became (H, W, C)
    assert (ds.test.images[0] == [10, 20, 30]).all()
    assert ds.val.class_counts(10).tolist() == [1] * 10
    assert (tmp_path / "cifar10" / downloads.ARRAYS_FILE).exists()    # parsed once, then cached
    (tmp_path / "cifar10" / "cifar-10-python.tar.gz").unlink()
    again = load_dataset("cifar10", data_dir=tmp_path, val_fraction=0.1)
    np.testing.assert_array_equal(again.val.images, ds.val.images)
    resized = load_dataset("cifar10", data_dir=tmp_path, image_size=16, size=60)
    assert resized.image_shape == (16, 16, 3) and len(resized.train) + len(resized.val) + len(resized.test) == 60


def test_fashion_mnist_from_idx_files(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (50, 28, 28)),
              "train-labels-idx1-ubyte.gz": np.arange(50) % 10,
              "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (20, 28, 28)),
              "t10k-labels-idx1-ubyte.gz": np.arange(20) % 10}
    files = {name: idx_gz(a) for name, a in arrays.items()}
    use_files(monkeypatch, "fashion-mnist", files)
    for name, data in files.items():
        (tmp_path / "fashion-mnist").mkdir(exist_ok=True)
        (tmp_path / "fashion-mnist" / name).write_bytes(data)
    ds = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert ds.image_shape == (28, 28, 1) and ds.class_names[-1] == "Ankle boot"
    assert (len(ds.train), len(ds.val), len(ds.test)) == (45, 5, 20)
    np.testing.assert_array_equal(ds.test.images[..., 0], arrays["t10k-images-idx3-ubyte.gz"])
    assert ds.mean.shape == (1,)

    from shared.cli import main
    assert main(["data", "info", "fashion-mnist", "--data-dir", str(tmp_path)]) == 0
    assert "Ankle boot" in capsys.readouterr().out


def test_bad_checksum_names_the_file_and_the_url(tmp_path, monkeypatch):
    archive = tiny_cifar_archive()
    use_files(monkeypatch, "cifar10", {"cifar-10-python.tar.gz": archive})
    target = tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    target.parent.mkdir()
    target.write_bytes(archive[:-10])
    with pytest.raises(downloads.DatasetUnavailable) as error:
        load_dataset("cifar10", data_dir=tmp_path)
    assert str(target) in str(error.value) and "https://example.invalid/cifar-10-python.tar.gz" in str(error.value)


def test_offline_error_names_url_and_path_and_leaves_nothing(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(downloads.urllib.request, "urlopen", offline)
    with pytest.raises(downloads.DatasetUnavailable) as error:
        load_dataset("cifar10", data_dir=tmp_path)
    message = str(error.value)
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in message   # the official source
    assert str(tmp_path / "cifar10" / "cifar-10-python.tar.gz") in message
    assert list((tmp_path / "cifar10").iterdir()) == []


class FakeResponse(io.BytesIO):
    headers = {}


def test_download_checks_md5_then_renames(tmp_path, monkeypatch):
    archive = tiny_cifar_archive()
    use_files(monkeypatch, "cifar10", {"cifar-10-python.tar.gz": archive})
    monkeypatch.setattr(downloads.urllib.request, "urlopen", lambda url, timeout: FakeResponse(archive[:-1]))
    with pytest.raises(downloads.DatasetUnavailable, match="MD5"):
        downloads.download("cifar10", tmp_path, progress=False)
    assert list((tmp_path / "cifar10").iterdir()) == []                       # no half-written file
    monkeypatch.setattr(downloads.urllib.request, "urlopen", lambda url, timeout: FakeResponse(archive))
    [path] = downloads.download("cifar10", tmp_path, progress=False)
    assert path.read_bytes() == archive and list(path.parent.iterdir()) == [path]
    assert downloads.is_downloaded("cifar10", tmp_path)


def test_official_table_matches_torchvision():
    assert downloads.SOURCES["cifar100"][0].md5 == "eb9058c3a382ffc7106e4002c42a8d85"
    assert downloads.SOURCES["cifar100"][0].url == "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
    assert downloads.SOURCES["cifar10"][0].md5 == "c58f30108f718f92721af3b95e74349a"
    assert downloads.SOURCES["cifar10"][0].url.startswith("https://www.cs.toronto.edu/~kriz/")
    assert [f.filename for f in downloads.SOURCES["fashion-mnist"]] == [
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz"]


def tiny_cifar100_archive(train_rows: int = 200, test_rows: int = 100, seed: int = 0) -> bytes:
    """A cifar-100-python.tar.gz in the official layout: `train`, `test` and `meta` pickles, fine labels
    0..99 in turn and coarse labels fine // 5 (the real mapping is another one; the loader must not care)."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        def add(name, payload):
            data = pickle.dumps(payload, protocol=2)
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))

        for name, rows in (("train", train_rows), ("test", test_rows)):
            data = rng.integers(0, 256, (rows, 3072), dtype=np.uint8)
            data[0, :1024], data[0, 1024:2048], data[0, 2048:] = 10, 20, 30  # first image: flat RGB (10, 20, 30)
            fine = np.arange(rows) % 100
            add(name, {"batch_label": name, "data": data, "fine_labels": fine.tolist(),
                       "coarse_labels": (fine // 5).tolist(), "filenames": [f"{i}.png" for i in range(rows)]})
        add("meta", {"fine_label_names": downloads.CIFAR100_FINE, "coarse_label_names": downloads.CIFAR100_COARSE})
    return buffer.getvalue()


def test_cifar100_fine_by_default_coarse_on_request(tmp_path, monkeypatch):
    archive = tiny_cifar100_archive()
    use_files(monkeypatch, "cifar100", {"cifar-100-python.tar.gz": archive})
    (tmp_path / "cifar100").mkdir()
    (tmp_path / "cifar100" / "cifar-100-python.tar.gz").write_bytes(archive)
    fine = load_dataset("cifar100", data_dir=tmp_path, val_fraction=0.5)
    assert fine.num_classes == 100 and fine.class_names[:2] == ["apple", "aquarium_fish"]
    assert fine.image_shape == (32, 32, 3) and (len(fine.train), len(fine.val), len(fine.test)) == (100, 100, 100)
    assert (fine.test.images[0] == [10, 20, 30]).all()                 # channel planes became (H, W, C)
    assert fine.test.labels.tolist() == list(range(100))
    assert fine.val.class_counts(100).tolist() == [1] * 100             # stratified over the 100 fine classes
    coarse = load_dataset("cifar100-coarse", data_dir=tmp_path, val_fraction=0.5)
    assert coarse.num_classes == 20 and coarse.class_names[0] == "aquatic_mammals"
    assert coarse.test.labels.tolist() == [label // 5 for label in range(100)]
    np.testing.assert_array_equal(coarse.test.images, fine.test.images)  # same archive, same images
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar100"]   # no second folder for the coarse labels
    assert downloads.is_downloaded("cifar100-coarse", tmp_path)


def test_cifar100_offline_error_names_the_archive_and_where_it_goes(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(downloads.urllib.request, "urlopen", offline)
    for name in ("cifar100", "cifar100-coarse"):
        with pytest.raises(downloads.DatasetUnavailable) as error:
            load_dataset(name, data_dir=tmp_path)
        assert "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz" in str(error.value)
        assert str(tmp_path / "cifar100" / "cifar-100-python.tar.gz") in str(error.value)
    assert list((tmp_path / "cifar100").iterdir()) == []


def test_cifar100_archive_without_its_files_is_rejected(tmp_path, monkeypatch):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("cifar-100-python/readme.txt")
        archive.addfile(info, io.BytesIO(b""))
    use_files(monkeypatch, "cifar100", {"cifar-100-python.tar.gz": buffer.getvalue()})
    (tmp_path / "cifar100").mkdir()
    (tmp_path / "cifar100" / "cifar-100-python.tar.gz").write_bytes(buffer.getvalue())
    with pytest.raises(downloads.DatasetUnavailable, match="train and test"):
        load_dataset("cifar100", data_dir=tmp_path)
    assert not (tmp_path / "cifar100" / downloads.ARRAYS_FILE).exists()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_compare_runs_on_cifar100(tmp_path, monkeypatch):
    from shared.cli import main

    archive = tiny_cifar100_archive(train_rows=400, test_rows=200)
    use_files(monkeypatch, "cifar100", {"cifar-100-python.tar.gz": archive})
    (tmp_path / "data" / "cifar100").mkdir(parents=True)
    (tmp_path / "data" / "cifar100" / "cifar-100-python.tar.gz").write_bytes(archive)
    monkeypatch.setenv("WORKBOOK_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "out"
    assert main(["compare", "--dataset", "cifar100", "--models", "cnn", "--frameworks", "torch", "--epochs", "1",
                 "--latency-repeats", "2", "--data-efficiency", "--no-progress", "--out", str(out)]) == 0
    import json
    results = json.loads((out / "results.json").read_text())
    assert len(results["dataset"]["class_names"]) == 100
    assert [row["status"] for row in results["rows"]] == ["ok"]
