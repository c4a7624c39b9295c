"""Week 2 · cnn.py: shapes for several input sizes, parameters, logits, and that the network learns."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from shared.grading.checks import expect_close, expect_shape, expect_true, fail
from shared.grading.target import exercise

cnn = exercise("week2", "cnn")

SMALL = dict(widths=(8, 16, 32), hidden_units=32)  # a few thousand parameters: fast tests
INPUT_CASES = [((28, 28, 1), 10), ((32, 32, 3), 10), ((40, 40, 3), 5), ((16, 16, 3), 4)]


def _built(model: nn.Module, input_shape) -> nn.Module:
    """The model after one forward pass, so that lazy layers (nn.LazyLinear) have their parameters."""
    height, width, channels = input_shape
    was_training = model.training
    with torch.no_grad():
        model.eval()(torch.zeros(2, channels, height, width))
    return model.train(was_training)


def _forward(model: nn.Module, input_shape, batch: int = 2) -> torch.Tensor:
    height, width, channels = input_shape
    model.eval()
    images = torch.randn(batch, channels, height, width)
    try:
        with torch.no_grad():
            return model(images)
    except RuntimeError as error:
        if "shapes cannot be multiplied" in str(error) or "size mismatch" in str(error):
            fail(f"forwarding {height}x{width}x{channels} images failed in a Linear layer ({error}). The flatten "
                 f"size looks hard-coded: compute it from input_shape (a dummy forward pass, or nn.LazyLinear).")
        raise


@pytest.mark.points(2)
def test_output_shapes_for_several_input_sizes():
    for input_shape, num_classes in INPUT_CASES:
        model = cnn.CNN(num_classes=num_classes, input_shape=input_shape)
        out = _forward(model, input_shape)
        expect_shape(f"CNN(num_classes={num_classes}, input_shape={input_shape}) output", out, (2, num_classes))
        expect_true(bool(torch.isfinite(out).all()), f"the output for input_shape={input_shape} has NaN or inf")


@pytest.mark.points(1)
def test_count_parameters():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))  # 16 + 10 parameters
    for parameter in model[0].parameters():
        parameter.requires_grad_(False)
    total, trainable = cnn.count_parameters(model)
    expect_true((total, trainable) == (26, 10),
                f"count_parameters of Linear(3, 4) (frozen) + Linear(4, 2) should be (26, 10), got "
                f"{(total, trainable)}: count p.numel() of every parameter, and of those with requires_grad.")
    total, _ = cnn.count_parameters(_built(cnn.CNN(num_classes=10, input_shape=(32, 32, 3)), (32, 32, 3)))
    expect_true(10_000 <= total <= 5_000_000,
                f"the default CNN for 32x32x3 has {total:,} parameters; expected between 10k and 5M")


@pytest.mark.points(1)
def test_conv_blocks_and_arguments():
    model = _built(cnn.CNN(num_classes=7, input_shape=(32, 32, 3), **SMALL), (32, 32, 3))
    kinds = [type(m) for m in model.modules()]
    for kind, least in ((nn.Conv2d, 3), (nn.BatchNorm2d, 3), (nn.Dropout, 1)):
        expect_true(kinds.count(kind) >= least, f"the CNN should have at least {least} {kind.__name__} layer(s), "
                                                f"found {kinds.count(kind)}")
    narrow = cnn.count_parameters(model)[0]
    wide = cnn.count_parameters(_built(cnn.CNN(num_classes=7, input_shape=(32, 32, 3), widths=(16, 32, 64),
                                               hidden_units=32), (32, 32, 3)))[0]
    expect_true(wide > narrow, f"widths=(16, 32, 64) should give more parameters than widths=(8, 16, 32); got "
                               f"{wide:,} and {narrow:,}: are the widths argument's values used?")


@pytest.mark.points(1)
def test_dropout_rate_is_used():
    images = torch.randn(8, 3, 16, 16)
    torch.manual_seed(0)
    still = cnn.CNN(num_classes=4, input_shape=(16, 16, 3), dropout_rate=0.0, **SMALL).train()
    noisy = cnn.CNN(num_classes=4, input_shape=(16, 16, 3), dropout_rate=0.5, **SMALL).train()
    with torch.no_grad():
        expect_close("two training-mode outputs with dropout_rate=0", still(images), still(images), atol=1e-5,
                     hint="With dropout_rate=0 nothing is random.")
        expect_true(not torch.allclose(noisy(images), noisy(images)),
                    "with dropout_rate=0.5, two forward passes in training mode should differ: is dropout_rate "
                    "passed to nn.Dropout?")
        noisy.eval()
        expect_close("two eval-mode outputs with dropout_rate=0.5", noisy(images), noisy(images), atol=1e-5)


@pytest.mark.points(1)
def test_outputs_are_logits():
    model = cnn.CNN(num_classes=5, input_shape=(16, 16, 3), **SMALL)
    out = _forward(model, (16, 16, 3), batch=4)
    rows_sum_to_one = torch.allclose(out.sum(dim=1), torch.ones(4), atol=1e-4)
    if bool((out >= 0).all()) and rows_sum_to_one:
        fail("the CNN outputs probabilities (every row is >= 0 and sums to 1): remove the final softmax. "
             "nn.CrossEntropyLoss applies log-softmax itself and expects raw scores (logits).")


def _fit_one_batch(model: nn.Module, images, labels, steps: int, learning_rate: float) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()
    return loss.item()


@pytest.mark.points(2)
def test_overfits_one_small_batch():
    torch.manual_seed(0)
    model = _built(cnn.CNN(num_classes=4, input_shape=(16, 16, 3), dropout_rate=0.0, **SMALL), (16, 16, 3))
    images, labels = torch.randn(16, 3, 16, 16), torch.arange(16) % 4
    loss = _fit_one_batch(model, images, labels, steps=60, learning_rate=3e-3)
    if loss > 0.6:
        fail(f"after 60 Adam steps on one batch of 16 images the loss is still {loss:.3f}; a CNN should memorise "
             f"them (loss < 0.05). A loss stuck near 0.74 (for 4 classes) is the sign of a softmax before "
             f"nn.CrossEntropyLoss; otherwise check that forward uses every layer and returns the classifier's output.")
    expect_true(loss < 0.05, f"after 60 Adam steps on one batch of 16 images the loss is {loss:.3f}; expected the "
                             f"CNN to memorise them (loss < 0.05)")


# A short training on part of the embedded `shapes` dataset: three classes, 16x16 images, a few epochs.
# Measured with the reference CNN (seeds 0-3): validation accuracy 0.68-0.76 after 5 epochs; chance is 0.33.
LEARN_CLASSES = (0, 2, 5)  # circle, square, cross
LEARN_SIZE, LEARN_IMAGE_SIZE, LEARN_EPOCHS, LEARN_BATCH = 4000, 16, 5, 32
LEARN_MIN_ACCURACY = 0.5


def _subset(split, mean, std):
    keep = np.isin(split.labels, LEARN_CLASSES)
    images = (split.images[keep] / 255.0 - mean) / std                                 # (N, H, W, C)
    labels = np.searchsorted(LEARN_CLASSES, split.labels[keep])
    return torch.tensor(images.transpose(0, 3, 1, 2), dtype=torch.float32), torch.tensor(labels)


@pytest.mark.points(2)
@pytest.mark.timeout(90)
def test_learns_the_embedded_dataset():
    from shared.data import load_dataset

    torch.manual_seed(0)
    ds = load_dataset("shapes", size=LEARN_SIZE, image_size=LEARN_IMAGE_SIZE, seed=0)
    (train_x, train_y), (val_x, val_y) = (_subset(split, ds.mean, ds.std) for split in (ds.train, ds.val))
    model = _built(cnn.CNN(num_classes=len(LEARN_CLASSES), input_shape=ds.image_shape, **SMALL), ds.image_shape)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    for _ in range(LEARN_EPOCHS):
        model.train()
        order = torch.randperm(len(train_y))
        for start in range(0, len(order) - LEARN_BATCH + 1, LEARN_BATCH):
            batch = order[start:start + LEARN_BATCH]
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(train_x[batch]), train_y[batch]).backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(val_x).argmax(dim=1) == val_y).float().mean().item()
    expect_true(accuracy >= LEARN_MIN_ACCURACY,
                f"after {LEARN_EPOCHS} epochs on {len(train_y)} shapes images of {len(LEARN_CLASSES)} classes the "
                f"validation accuracy is {accuracy:.2f}; expected at least {LEARN_MIN_ACCURACY} (chance: "
                f"{1 / len(LEARN_CLASSES):.2f}). If the other tests pass, look at eval mode (BatchNorm, Dropout) and "
                f"at forward: every block used, no activation after the last layer.")
