"""folder:PATH: mixed image modes, skipped files, carved splits, clear errors and the decode cache."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from shared.data import folder, load_dataset

CLASSES = ("cats", "dogs")
pytestmark = pytest.mark.filterwarnings("ignore:.*not readable images:UserWarning")


def write_images(directory, count: int, mode: str = "RGB", size=(20, 14), seed: int = 0) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        image = Image.fromarray(pixels)
        if mode == "L":
            image = image.convert("L")
        elif mode == "RGBA":
            image = image.convert("RGBA")
        elif mode == "P":
            image = image.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
        suffix = "jpg" if mode in ("RGB", "L") else "png"
        image.save(directory / f"{mode}_{i:03d}.{suffix}")


@pytest.fixture
def kaggle_folder(tmp_path):
    root = tmp_path / "pets"
    for c, name in enumerate(CLASSES):
        write_images(root / "train" / name, 12, "RGB", seed=c)
        write_images(root / "train" / name, 3, "L", size=(9, 9), seed=c + 10)
        write_images(root / "train" / name, 3, "RGBA", seed=c + 20)
        write_images(root / "train" / name, 2, "P", size=(40, 40), seed=c + 30)
    (root / "train" / "cats" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "train" / "dogs" / "notes.txt").write_text("not an image")
    return root


def test_folder_loads_every_mode_as_rgb_and_counts_skipped_files(kaggle_folder, tmp_path):
    with pytest.warns(UserWarning, match="skipped 2 file"):
        ds = load_dataset(f"folder:{kaggle_folder}", image_size=16, data_dir=tmp_path / "cache", seed=0,
                          val_fraction=0.25, test_fraction=0.25, progress=False)
    assert ds.class_names == list(CLASSES) and ds.image_shape == (16, 16, 3)
    assert len(ds.train) + len(ds.val) + len(ds.test) == 40
    assert (len(ds.val), len(ds.test)) == (10, 10)
    assert ds.val.class_counts(2).tolist() == [5, 5]
    assert ds.train.images.dtype == np.uint8
    assert any("skipped 2" in note for note in ds.notes)


def test_second_load_comes_from_the_cache(kaggle_folder, tmp_path, monkeypatch):
    first = load_dataset(f"folder:{kaggle_folder}", image_size=16, data_dir=tmp_path, progress=False)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again although nothing changed")

    monkeypatch.setattr(folder, "decode_image", no_decoding)
    second = load_dataset(f"folder:{kaggle_folder}", image_size=16, data_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(first.train.images, second.train.images)
    # a new file changes the key: the folder is decoded again
    monkeypatch.undo()
    Image.new("RGB", (20, 14), (1, 2, 3)).save(kaggle_folder / "train" / "dogs" / "new.png")
    third = load_dataset(f"folder:{kaggle_folder}", image_size=16, data_dir=tmp_path, progress=False)
    assert len(third.train) + len(third.val) + len(third.test) == 41
    assert len(list((tmp_path / "folders").iterdir())) == 2


def test_own_val_and_test_folders_are_used(tmp_path):
    root = tmp_path / "data"
    for name in CLASSES:
        write_images(root / "train" / name, 6)
        write_images(root / "valid" / name, 2)
        write_images(root / "test" / name, 3)
    ds = load_dataset(f"folder:{root}", data_dir=tmp_path / "cache", progress=False)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (12, 4, 6)
    assert ds.image_shape == (14, 14, 3)    # default: the first image's shorter side


def test_transparent_and_gray_pixels(tmp_path):
    root = tmp_path / "modes"
    (root / "train" / "a").mkdir(parents=True)
    Image.new("RGBA", (8, 8), (255, 0, 0, 0)).save(root / "train" / "a" / "clear.png")
    Image.new("L", (8, 8), 77).save(root / "train" / "a" / "gray.png")
    decoded = folder.decode_image(root / "train" / "a" / "clear.png", 4)
    assert decoded.shape == (4, 4, 3) and (decoded == 255).all()           # transparent -> white background
    assert (folder.decode_image(root / "train" / "a" / "gray.png", 4) == 77).all()


def test_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'missing'}", data_dir=tmp_path)
    (tmp_path / "flat" / "cats").mkdir(parents=True)
    with pytest.raises(ValueError, match="no train/ folder"):
        load_dataset(f"folder:{tmp_path / 'flat'}", data_dir=tmp_path)
    root = tmp_path / "one_empty"
    write_images(root / "train" / "cats", 4)
    (root / "train" / "dogs").mkdir()
    (root / "train" / "dogs" / "readme.txt").write_text("no pictures yet")
    with pytest.raises(ValueError, match="no readable image.*dogs"):
        load_dataset(f"folder:{root}", data_dir=tmp_path, progress=False)
    empty = tmp_path / "empty"
    (empty / "train" / "cats").mkdir(parents=True)
    (empty / "train" / "dogs").mkdir(parents=True)
    with pytest.raises(ValueError, match="no files"):
        load_dataset(f"folder:{empty}", data_dir=tmp_path)


def test_a_fraction_of_zero_asks_for_no_split(kaggle_folder, tmp_path):
    """The benchmarks take the whole folder as train (val_fraction=0, test_fraction=0): no split is carved out, and
    an empty split that was asked for is still an error."""
    whole = load_dataset(f"folder:{kaggle_folder}", data_dir=tmp_path, val_fraction=0.0, test_fraction=0.0,
                         progress=False)
    assert len(whole.train.labels) == 2 * 20 and len(whole.val.labels) == 0 == len(whole.test.labels)
    with pytest.raises(ValueError, match="too few images"):
        load_dataset(f"folder:{kaggle_folder}", data_dir=tmp_path, val_fraction=0.001, test_fraction=0.0,
                     progress=False)
