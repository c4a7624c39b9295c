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


KNOWN_ERRORS = {
    "expected 2D or 3D input": "a BatchNorm1d after a convolution: conv outputs are 4-D (B, C, H, W), so the blocks "
                               "need nn.BatchNorm2d(out_channels)",
    "running_mean should contain": "a BatchNorm2d whose num_features is not its convolution's out_channels",
    "Kernel size can't be greater than actual input size": "the image shrank to nothing: a convolution without "
                                                           "padding loses kernel_size - 1 pixels each time; use "
                                                           "padding=kernel_size // 2 ('same')",
    "shapes cannot be multiplied": "the flatten size looks hard-coded: compute it from input_shape (flatten_size, a "
                                   "dummy forward pass, or nn.LazyLinear)",
    "size mismatch": "the flatten size looks hard-coded: compute it from input_shape (flatten_size, a dummy forward "
                     "pass, or nn.LazyLinear)",
}


def _explained(error: Exception, what: str) -> None:
    """Fail with the likely bug behind a known PyTorch error, else let it through."""
    for pattern, bug in KNOWN_ERRORS.items():
        if pattern in str(error):
            fail(f"{what} raised `{str(error).splitlines()[0][:160]}`: {bug}.")


def _build(**kwargs) -> nn.Module:
    try:
        return cnn.CNN(**kwargs)
    except (RuntimeError, ValueError) as error:
        _explained(error, f"CNN({', '.join(f'{k}={v}' for k, v in kwargs.items())})")
        raise


def _forward(model: nn.Module, input_shape, batch: int = 2) -> torch.Tensor:
    height, width, channels = input_shape
    model.eval()
    images = torch.randn(batch, channels, height, width)
    try:
        with torch.no_grad():
            return model(images)
    except (RuntimeError, ValueError) as error:
        _explained(error, f"forwarding {height}x{width}x{channels} images")
        raise


def _convolutions_keep_size(model: nn.Module, input_shape) -> None:
    sizes = []
    hooks = [m.register_forward_hook(lambda m, i, o: sizes.append((tuple(i[0].shape[-2:]), tuple(o.shape[-2:]))))
             for m in model.modules() if isinstance(m, nn.Conv2d) and m.stride in (1, (1, 1))]
    try:
        _forward(model, input_shape)
    finally:
        for hook in hooks:
            hook.remove()
    shrunk = [(before, after) for before, after in sizes if before != after]
    if shrunk:
        fail(f"a convolution turned {shrunk[0][0]} feature maps into {shrunk[0][1]}: without padding each 3x3 "
             f"convolution loses 2 pixels, and only pooling should shrink the image here. Use "
             f"padding=kernel_size // 2 ('same' padding).")


@pytest.mark.points(2)
def test_output_shapes_for_several_input_sizes():
    _convolutions_keep_size(_build(num_classes=5, input_shape=(40, 40, 3)), (40, 40, 3))
    for input_shape, num_classes in INPUT_CASES:
        model = _build(num_classes=num_classes, input_shape=input_shape)
        out = _forward(model, input_shape)
        expect_shape(f"CNN(num_classes={num_classes}, input_shape={input_shape}) output", out, (2, num_classes))
        expect_true(bool(torch.isfinite(out).all()), f"the output for input_shape={input_shape} has NaN or inf")


def _batchnorm_state(module: nn.Module) -> dict:
    return {name: buffer.clone() for name, buffer in module.named_buffers()}


@pytest.mark.points(1)
def test_flatten_size_leaves_the_model_as_it_was():
    features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(4, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2))
    for training in (True, False):
        features.train(training)
        before = _batchnorm_state(features)
        size = cnn.flatten_size(features, (12, 8, 3))
        changed = [name for name, value in _batchnorm_state(features).items() if not torch.equal(value, before[name])]
        if changed:
            fail(f"flatten_size changed BatchNorm's running statistics ({changed[0]}): it ran the dummy batch in "
                 f"training mode. Run it in eval mode, under torch.no_grad(), then restore the mode.")
        expect_true(features.training == training,
                    f"flatten_size left a model that was in {'training' if training else 'eval'} mode in "
                    f"{'training' if features.training else 'eval'} mode: remember features.training first and "
                    f"restore it (features.train(was_training)).")
        expect_true(size == 6 * 3 * 2, f"flatten_size of two blocks (6 channels) on 12x8 images: expected "
                                       f"6 * 3 * 2 = 36 features, got {size!r}")
    model = _build(num_classes=3, input_shape=(16, 16, 3), **SMALL)
    moved = [name for name, value in model.named_buffers()
             if "running_mean" in name and value.abs().sum() > 0 or "num_batches_tracked" in name and value > 0]
    expect_true(not moved, f"building the CNN changed BatchNorm's running statistics ({moved[:1]}): the flatten size "
                           f"must be found in eval mode, under torch.no_grad().")
    expect_true(model.training, "a freshly built CNN is in eval mode: nn.Module starts in training mode; restore "
                                "the mode after finding the flatten size.")


@pytest.mark.points(1)
def test_count_parameters():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))  # 16 + 10 parameters
    for parameter in model[0].parameters():
        parameter.requires_grad_(False)
    total, trainable = cnn.count_parameters(model)
    expect_true((total, trainable) == (26, 10),
                f"count_parameters of Linear(3, 4) (frozen) + Linear(4, 2) should be (26, 10), got "
                f"{(total, trainable)}: count p.numel() of every parameter, and of those with requires_grad.")
    total, _ = cnn.count_parameters(_built(_build(num_classes=10, input_shape=(32, 32, 3)), (32, 32, 3)))
    expect_true(10_000 <= total <= 5_000_000,
                f"the default CNN for 32x32x3 has {total:,} parameters; expected between 10k and 5M")


@pytest.mark.points(1)
def test_conv_blocks_and_arguments():
    model = _built(_build(num_classes=7, input_shape=(32, 32, 3), **SMALL), (32, 32, 3))
    kinds = [type(m) for m in model.modules()]
    for kind, least in ((nn.Conv2d, 3), (nn.BatchNorm2d, 3), (nn.Dropout, 1)):
        expect_true(kinds.count(kind) >= least, f"the CNN should have at least {least} {kind.__name__} layer(s), "
                                                f"found {kinds.count(kind)}")
    narrow = cnn.count_parameters(model)[0]
    wide = cnn.count_parameters(_built(_build(num_classes=7, input_shape=(32, 32, 3), widths=(16, 32, 64),
                                               hidden_units=32), (32, 32, 3)))[0]
    expect_true(wide > narrow, f"widths=(16, 32, 64) should give more parameters than widths=(8, 16, 32); got "
                               f"{wide:,} and {narrow:,}: are the widths argument's values used?")


@pytest.mark.points(1)
def test_dropout_rate_is_used():
    images = torch.randn(8, 3, 16, 16)
    torch.manual_seed(0)
    still = _build(num_classes=4, input_shape=(16, 16, 3), dropout_rate=0.0, **SMALL).train()
    noisy = _build(num_classes=4, input_shape=(16, 16, 3), dropout_rate=0.5, **SMALL).train()
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
    model = _build(num_classes=5, input_shape=(16, 16, 3), **SMALL)
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
    model = _built(_build(num_classes=4, input_shape=(16, 16, 3), dropout_rate=0.0, **SMALL), (16, 16, 3))
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
    model = _built(_build(num_classes=len(LEARN_CLASSES), input_shape=ds.image_shape, **SMALL), ds.image_shape)
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
