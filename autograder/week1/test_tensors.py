"""Grades week1/tensors.py: creating, reshaping, indexing and broadcasting tensors, NumPy, devices."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from shared.grading.checks import expect_close, expect_shape, expect_true, fail
from shared.grading.target import exercise

tensors = exercise("week1", "tensors")


@pytest.mark.points(1)
def test_make_grid():
    grid = tensors.make_grid(3, 4)
    expect_shape("make_grid(3, 4)", grid, (3, 4))
    expect_true(grid.dtype == torch.float32, f"make_grid(3, 4): expected dtype torch.float32, got {grid.dtype}")
    expect_close("make_grid(3, 4)", grid, np.arange(12, dtype=np.float32).reshape(3, 4), atol=0,
                 hint="element [i, j] must be i * cols + j.")


@pytest.mark.points(1)
def test_to_channels_first():
    images = torch.arange(2 * 5 * 4 * 3, dtype=torch.float32).reshape(2, 5, 4, 3)  # (N, H, W, C), H != W
    result = tensors.to_channels_first(images)
    expect_shape("to_channels_first of a (2, 5, 4, 3) batch", result, (2, 3, 5, 4))
    reshaped = images.reshape(2, 3, 5, 4)
    if torch.equal(torch.as_tensor(result), reshaped):
        fail("to_channels_first: the shape is right but the pixels are scrambled: that is what reshape/view "
             "does. Reorder the axes with permute(0, 3, 1, 2).")
    expect_close("to_channels_first(images)[n, c, h, w] vs images[n, h, w, c]", result,
                 images.numpy().transpose(0, 3, 1, 2), atol=0)


@pytest.mark.points(1)
def test_flatten_batch():
    for shape in [(4, 3, 8, 6), (2, 28, 28), (1, 3, 5, 5)]:
        batch = torch.randn(*shape)
        result = tensors.flatten_batch(batch)
        size = int(np.prod(shape[1:]))
        if tuple(result.shape) in [(size,), (shape[0] * size,)]:
            fail(f"flatten_batch of shape {shape}: expected shape {(shape[0], size)}, got {tuple(result.shape)}: "
                 f"the batch dimension was lost (squeeze() or view(-1)?). Use reshape(batch.shape[0], -1).")
        expect_shape(f"flatten_batch of shape {shape}", result, (shape[0], size))
        expect_close(f"flatten_batch of shape {shape}", result, batch.numpy().reshape(shape[0], -1), atol=0)


@pytest.mark.points(1)
def test_center_crop():
    images = torch.randn(2, 3, 9, 12)
    for size in (4, 5, 9):
        result = tensors.center_crop(images, size)
        top, left = (9 - size) // 2, (12 - size) // 2
        expect_shape(f"center_crop(images of (2, 3, 9, 12), {size})", result, (2, 3, size, size))
        expect_close(f"center_crop(images of (2, 3, 9, 12), {size})", result,
                     images[:, :, top:top + size, left:left + size],
                     atol=0, hint=f"the window starts at row (H - size) // 2 = {top}, column (W - size) // 2 = {left}.")
    try:
        tensors.center_crop(images, 10)
    except ValueError:
        return
    except Exception as error:  # noqa: BLE001
        fail(f"center_crop(images of (2, 3, 9, 12), 10): expected a ValueError (10 > 9 rows), got "
             f"{type(error).__name__}: {error}")
    fail("center_crop(images of (2, 3, 9, 12), 10): expected a ValueError (a 10x10 crop does not fit in 9 rows), "
         "but nothing was raised; slicing past the end silently returns a smaller crop")


@pytest.mark.points(1)
def test_pick_scores():
    scores = torch.randn(5, 7)
    labels = torch.tensor([0, 6, 3, 3, 1])
    result = tensors.pick_scores(scores, labels)
    if tuple(result.shape) == (5, 5):
        fail("pick_scores: got a (5, 5) matrix instead of shape (5,): scores[:, labels] picks the labelled "
             "columns for every row. Index rows and columns together: scores[torch.arange(B), labels].")
    expect_close("pick_scores(scores (5, 7), labels (5,))", result, scores.gather(1, labels[:, None])[:, 0], atol=0)


@pytest.mark.points(1)
def test_normalize_channels():
    images = torch.rand(2, 3, 4, 3)  # W == C == 3: the broadcasting bug gives a result of the right shape
    mean, std = torch.tensor([0.1, 0.5, 0.9]), torch.tensor([0.2, 0.4, 0.8])
    result = tensors.normalize_channels(images, mean, std)
    expected = (images - mean[:, None, None]) / std[:, None, None]
    wrong_axis = (images - mean) / std
    expect_shape("normalize_channels of a (2, 3, 4, 3) batch", result, (2, 3, 4, 3))
    if torch.allclose(torch.as_tensor(result), wrong_axis, atol=1e-6):
        fail("normalize_channels: mean and std were applied along the last axis (the width), not the channel "
             "axis: broadcasting aligns (C,) with W. Reshape them to (C, 1, 1).")
    expect_close("normalize_channels", result, expected, atol=1e-6)


@pytest.mark.points(1)
def test_pairwise_squared_distances():
    a, b = torch.randn(4, 3), torch.randn(6, 3)
    result = tensors.pairwise_squared_distances(a, b)
    expect_shape("pairwise_squared_distances(a (4, 3), b (6, 3))", result, (4, 6))
    expected = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    if torch.allclose(torch.as_tensor(result), expected.sqrt(), atol=1e-5):
        fail("pairwise_squared_distances: these are the distances, not their squares (drop the sqrt).")
    expect_close("pairwise_squared_distances", result, expected, atol=1e-5)


@pytest.mark.points(1)
def test_numpy_conversions():
    tensor = torch.randn(2, 3, requires_grad=True)
    array = tensors.to_numpy(tensor)
    expect_true(isinstance(array, np.ndarray), f"to_numpy: expected an np.ndarray, got {type(array).__name__}")
    expect_true(array.dtype == np.float32, f"to_numpy of a float32 tensor: expected dtype float32, got {array.dtype}")
    expect_close("to_numpy(tensor)", array, tensor.detach().numpy(), atol=0)
    for source in (np.array([[0.5, 2.25]]), np.array([[0, 128, 255]], dtype=np.uint8), np.arange(4)):
        result = tensors.from_numpy(source)
        expect_true(isinstance(result, torch.Tensor),
                    f"from_numpy: expected a torch.Tensor, got {type(result).__name__}")
        expect_true(result.dtype == torch.float32,
                    f"from_numpy of a {source.dtype} array: expected dtype torch.float32, got {result.dtype} "
                    f"(layers hold float32 weights; convert with .to(torch.float32) or .float())")
        expect_close(f"from_numpy of a {source.dtype} array", result, source.astype(np.float32), atol=0)


@pytest.mark.points(1)
def test_get_device(monkeypatch):
    cases = [((True, True), "cuda"), ((False, True), "mps"), ((False, False), "cpu")]
    for (cuda, mps), expected in cases:
        monkeypatch.setattr(torch.cuda, "is_available", lambda cuda=cuda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda mps=mps: mps)
        device = tensors.get_device()
        got = torch.device(device).type
        expect_true(got == expected, f"get_device() with CUDA available={cuda}, MPS available={mps}: expected "
                                     f"device '{expected}', got {device!r} (the order is CUDA, then MPS, then CPU)")


@pytest.mark.points(1)
def test_move_to_device():
    # The "meta" device exists everywhere, so moving there shows that things really moved, even without a GPU.
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    images, labels = torch.randn(2, 4), torch.tensor([0, 2])
    moved_model, batch = tensors.move_to_device(model, (images, labels), "meta")
    expect_true(len(batch) == 2, f"move_to_device: expected the batch back as 2 tensors, got {len(batch)}")
    stuck = [name for name, p in list(moved_model.named_parameters()) + list(moved_model.named_buffers())
             if p.device.type != "meta"]
    expect_true(not stuck, f"move_to_device: the model's {stuck} did not move to the device (use model.to(device))")
    for name, original, tensor in zip(("images", "labels"), (images, labels), batch):
        expect_true(tensor.device.type == "meta", f"move_to_device: {name} is still on {tensor.device}; "
                                                  f"tensor.to(device) returns a NEW tensor, keep that one")
        expect_true(tensor.dtype == original.dtype and tensor.shape == original.shape,
                    f"move_to_device: {name} changed from {original.dtype} {tuple(original.shape)} to "
                    f"{tensor.dtype} {tuple(tensor.shape)}; only the device may change")
