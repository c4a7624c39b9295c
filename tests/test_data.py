"""shared.data: the shapes generator, splits, statistics, names and the `workbook data` command (offline)."""
from __future__ import annotations

import time

import numpy as np
import pytest

from shared.data import DATASET_NAMES, check_name, dataset_choices, load_dataset, shapes
from shared.data.splits import channel_stats, stratified_split


def test_shapes_generate_is_deterministic_and_well_formed():
    images, labels = shapes.generate(200, image_size=32, seed=3)
    again, again_labels = shapes.generate(200, image_size=32, seed=3)
    other, _ = shapes.generate(200, image_size=32, seed=4)
    assert images.dtype == np.uint8 and images.shape == (200, 32, 32, 3)
    assert labels.dtype == np.int64 and set(labels) == set(range(10))
    np.testing.assert_array_equal(images, again)
    np.testing.assert_array_equal(labels, again_labels)
    assert not np.array_equal(images, other)
    assert np.bincount(labels).min() == np.bincount(labels).max() == 20  # balanced


def test_shapes_any_image_size_and_real_variety():
    images, labels = shapes.generate(50, image_size=48, seed=0)
    assert images.shape == (50, 48, 48, 3)
    assert images.std() > 30                      # not flat
    per_image_means = images.reshape(50, -1).mean(axis=1)
    assert per_image_means.std() > 5              # backgrounds differ from image to image
    with pytest.raises(ValueError, match="image_size"):
        shapes.generate(10, image_size=4)


def test_shapes_generation_is_fast():
    shapes.generate(256)                          # warm-up
    start = time.process_time()                   # CPU time: other processes on the machine do not count
    shapes.generate(2048, seed=1)
    rate = 2048 / (time.process_time() - start)
    assert rate > 2500, f"{rate:.0f} images/s per CPU second; the target is 5,000+ on a quiet 2-core machine"


def test_load_shapes_splits_are_stratified_disjoint_and_deterministic():
    ds = load_dataset("shapes", size=1000, seed=0)
    assert ds.name == "shapes" and ds.num_classes == 10 and ds.class_names[0] == "circle"
    assert ds.image_shape == (32, 32, 3)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (800, 100, 100)
    for split in (ds.train, ds.val, ds.test):
        counts = split.class_counts(10)
        assert counts.min() == counts.max()
    # no image appears in two splits
    keys = [{img.tobytes() for img in split.images} for split in (ds.train, ds.val, ds.test)]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])
    again = load_dataset("shapes", size=1000, seed=0)
    np.testing.assert_array_equal(ds.val.images, again.val.images)
    other = load_dataset("shapes", size=1000, seed=1)
    assert not np.array_equal(ds.val.images, other.val.images)


def test_mean_and_std_come_from_train_only():
    ds = load_dataset("shapes", size=300, seed=0, val_fraction=0.2)
    mean, std = channel_stats(ds.train.images)
    np.testing.assert_allclose(ds.mean, mean)
    np.testing.assert_allclose(ds.std, std)
    pixels = ds.train.images.reshape(-1, 3) / 255.0
    np.testing.assert_allclose(ds.mean, pixels.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(ds.std, pixels.std(axis=0), atol=1e-6)
    everything = np.concatenate([ds.train.images, ds.val.images, ds.test.images])
    assert not np.allclose(channel_stats(everything)[0], ds.mean, atol=1e-7)
    assert ds.mean.dtype == np.float32 and ds.mean.shape == (3,)


def test_stratified_split_fractions_and_seed():
    labels = np.repeat(np.arange(4), 50)
    train, val, test = stratified_split(labels, (0.1, 0.2), seed=7)
    assert (len(train), len(val), len(test)) == (140, 20, 40)
    assert np.bincount(labels[val]).tolist() == [5, 5, 5, 5]
    assert len(np.intersect1d(train, val)) == 0 and len(np.intersect1d(val, test)) == 0
    np.testing.assert_array_equal(val, stratified_split(labels, (0.1, 0.2), seed=7)[1])
    with pytest.raises(ValueError):
        stratified_split(labels, (0.6, 0.5), seed=0)


def test_bad_name_lists_the_choices(tmp_path):
    with pytest.raises(ValueError, match="choose one of: shapes, cifar10, cifar100, cifar100-coarse, fashion-mnist, "
                                         "folder:PATH"):
        load_dataset("imagenet")
    assert check_name(f"folder:{tmp_path}") == f"folder:{tmp_path}"
    with pytest.raises(ValueError, match="does not exist or is not a directory"):
        check_name(f"folder:{tmp_path / 'missing'}")
    assert set(DATASET_NAMES) <= set(dataset_choices())


def test_cli_list_info_preview(tmp_path, capsys):
    from shared.cli import main

    assert main(["data", "list", "--data-dir", str(tmp_path)]) == 0
    assert "not downloaded" in capsys.readouterr().out
    assert main(["data", "info", "shapes", "--size", "200", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "train 160, val 20, test 20" in out and "crescent" in out
    assert main(["data", "info", "cifar10", "--data-dir", str(tmp_path)]) == 0
    assert "not downloaded" in capsys.readouterr().out
    png = tmp_path / "grid.png"
    assert main(["data", "preview", "shapes", "--size", "200", "--out", str(png), "--per-class", "3"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["data", "info", "nope"]) == 1
    assert "choose one of" in capsys.readouterr().err
