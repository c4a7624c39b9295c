"""Week 4 · data_efficiency.py: class-balanced nested subsets, and transfer beating a CNN trained from scratch
on 10 images per class (shapes, a short budget)."""
from __future__ import annotations

import numpy as np
import pytest

from shared.data import Split, load_dataset
from shared.grading.checks import expect_finite, expect_true, fail
from shared.grading.target import exercise

de = exercise("week4", "data_efficiency")


def _split(per_class=(20, 20, 20)) -> Split:
    labels = np.concatenate([np.full(n, c) for c, n in enumerate(per_class)])
    labels = np.random.default_rng(1).permutation(labels)
    images = np.zeros((len(labels), 2, 2, 1), np.uint8)
    images[:, 0, 0, 0] = np.arange(len(labels))  # each image carries its index, to check it kept its label
    return Split(images, labels)


def _indices(subset: Split) -> np.ndarray:
    return subset.images[:, 0, 0, 0].astype(int)


@pytest.mark.points(2)
def test_sample_per_class_is_balanced_and_nested():
    split = _split()
    small = de.sample_per_class(split, 5, seed=0)
    counts = np.bincount(small.labels, minlength=3)
    expect_true(counts.tolist() == [5, 5, 5], f"sample_per_class(split, 5) has class counts {counts.tolist()}; "
                                              f"expected 5 of each class")
    expect_true(np.array_equal(split.labels[_indices(small)], small.labels), "images and labels got out of step")
    large = de.sample_per_class(split, 10, seed=0)
    expect_true(set(_indices(small)) <= set(_indices(large)),
                "the subsets are not nested: the 5-per-class subset is not part of the 10-per-class one with the same "
                "seed. Draw one seeded permutation and keep the first per_class images of each class")
    again = de.sample_per_class(split, 5, seed=0)
    expect_true(np.array_equal(_indices(again), _indices(small)), "the same seed must give the same subset")
    other = de.sample_per_class(split, 5, seed=1)
    expect_true(not np.array_equal(np.sort(_indices(other)), np.sort(_indices(small))),
                "a different seed gave the same subset: draw the images at random")
    expect_true(de.sample_per_class(split, None) is split or len(de.sample_per_class(split, None)) == len(split),
                "per_class=None must keep every image")
    with pytest.raises(ValueError):
        de.sample_per_class(_split((20, 3, 20)), 5)


@pytest.mark.points(3)
@pytest.mark.timeout(120)
def test_transfer_beats_a_cnn_from_scratch_with_10_images_per_class():
    dataset = load_dataset("shapes", size=300, image_size=32, seed=0)
    config = de.ExperimentConfig(image_size=48, cnn_epochs=4, head_steps=150, batch_size=25)
    results = de.run_experiment(dataset, (10,), config)
    cnn = expect_finite("the CNN's test accuracy (results['cnn'][0])", results["cnn"][0],
                        hint="an accuracy is a number between 0 and 1: NaN means something went wrong in training")
    transfer = expect_finite("the transfer model's test accuracy (results['transfer'][0])", results["transfer"][0],
                             hint="an accuracy is a number between 0 and 1: NaN means something went wrong")
    expect_true(0 <= cnn <= 1 and 0 <= transfer <= 1, f"accuracies must lie in [0, 1], got CNN {cnn}, transfer "
                                                      f"{transfer}")
    if transfer <= cnn + 0.1:
        fail(f"with 10 images per class the transfer model reached {transfer:.2f} test accuracy and the CNN from "
             f"scratch {cnn:.2f}; pretrained features should win clearly (by more than 0.10). Check the "
             f"preprocessing (the backbone's mean/std) and that extract_features uses the pretrained backbone.")
