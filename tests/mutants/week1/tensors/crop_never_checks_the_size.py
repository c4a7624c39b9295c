# Mutant of solutions/week1/tensors.py: center_crop returns a smaller crop instead of raising.
# expect: ValueError
"""Week 1 · Exercise 1: Tensors, NumPy and devices.

What you will learn
- create a tensor with a given shape and dtype, and reshape, permute and flatten it;
- index a tensor with slices and with integer arrays ("fancy indexing");
- let broadcasting do the loops for you (per-channel normalisation, pairwise distances);
- convert between PyTorch and NumPy without surprises (dtype, gradients, memory sharing);
- pick the best available device (CUDA, then Apple's MPS, then CPU) and move a model and a batch to it.

Every function below is a few lines of tensor code: no Python loops over elements are needed.

Run the checks with `pytest autograder/week1/test_tensors.py`.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


# ---- creating and reshaping --------------------------------------------------------------------------------------

def make_grid(rows: int, cols: int) -> torch.Tensor:
    """A float32 tensor of shape (rows, cols) holding 0, 1, 2, ... in row-major order.

    Inputs: `rows`, `cols` positive ints.
    Output: float32 tensor of shape (rows, cols); element [i, j] equals i * cols + j.

    Example:
        >>> make_grid(2, 3)
        tensor([[0., 1., 2.],
                [3., 4., 5.]])

    Hint: `torch.arange` then `.reshape`.
    """
    return torch.arange(rows * cols, dtype=torch.float32).reshape(rows, cols)


def to_channels_first(images: torch.Tensor) -> torch.Tensor:
    """Turn a batch of images from NumPy/Keras layout (N, H, W, C) into PyTorch layout (N, C, H, W).

    Inputs: `images`, any dtype, shape (N, H, W, C).
    Output: the same values, shape (N, C, H, W), so that out[n, c, h, w] == images[n, h, w, c].

    Example:
        >>> to_channels_first(torch.zeros(8, 32, 32, 3)).shape
        torch.Size([8, 3, 32, 32])

    Hint: `reshape` keeps the memory order and would scramble the pixels; you need `permute`.
    """
    return images.permute(0, 3, 1, 2)


def flatten_batch(batch: torch.Tensor) -> torch.Tensor:
    """Flatten every example of a batch into one row: shape (N, ...) -> (N, D), D the product of the rest.

    Inputs: `batch`, shape (N, d1, d2, ...) with N >= 1.
    Output: shape (N, d1 * d2 * ...), row n holding batch[n] in row-major order.

    Example:
        >>> flatten_batch(torch.zeros(4, 3, 32, 32)).shape
        torch.Size([4, 3072])

    Do not hard-code the size: the same function must work for 28x28x1 and 32x32x3 images.
    """
    return batch.reshape(batch.shape[0], -1)


# ---- indexing -----------------------------------------------------------------------------------------------------

def center_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """The central `size` x `size` window of every image in a batch.

    Inputs: `images` of shape (N, C, H, W); `size` <= min(H, W).
    Output: shape (N, C, size, size), starting at row (H - size) // 2 and column (W - size) // 2.

    Example:
        >>> center_crop(torch.zeros(2, 3, 32, 32), 24).shape
        torch.Size([2, 3, 24, 24])

    Raises ValueError if `size` is larger than the image.
    """
    height, width = images.shape[-2:]
    top, left = (height - size) // 2, (width - size) // 2
    return images[:, :, top:top + size, left:left + size]


def pick_scores(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """For each row of `scores`, the entry in the column given by `labels` (you'll need it for cross-entropy).

    Inputs: `scores` float (B, K); `labels` int64 (B,) with values in [0, K).
    Output: shape (B,), out[i] == scores[i, labels[i]].

    Example:
        >>> pick_scores(torch.tensor([[1., 2.], [3., 4.]]), torch.tensor([1, 0]))
        tensor([2., 3.])

    Hint: index with two integer tensors, one for the rows and one for the columns
    (`scores[:, labels]` is a different thing: a (B, B) matrix).
    """
    rows = torch.arange(scores.shape[0], device=scores.device)
    return scores[rows, labels]


# ---- broadcasting -------------------------------------------------------------------------------------------------

def normalize_channels(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Per-channel normalisation (images - mean) / std of a batch in PyTorch layout.

    Inputs: `images` float (N, C, H, W); `mean` and `std` float (C,), one value per channel.
    Output: float (N, C, H, W) with out[n, c] == (images[n, c] - mean[c]) / std[c].

    Example:
        >>> out = normalize_channels(torch.ones(1, 3, 2, 2), torch.tensor([1., 0., 0.]), torch.tensor([1., 2., 4.]))
        >>> out[0, :, 0, 0]                                  # channel c: (1 - mean[c]) / std[c]
        tensor([0.0000, 0.5000, 0.2500])

    Hint: broadcasting aligns shapes from the right, so (C,) lines up with W, not with C.
    Reshape mean and std to (C, 1, 1) (or (1, C, 1, 1)) first.
    """
    return (images - mean.reshape(-1, 1, 1)) / std.reshape(-1, 1, 1)


def pairwise_squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distance between every row of `a` and every row of `b`, without loops.

    Inputs: `a` float (N, D), `b` float (M, D).
    Output: float (N, M), out[i, j] == ((a[i] - b[j]) ** 2).sum().

    Example:
        >>> pairwise_squared_distances(torch.tensor([[0., 0.]]), torch.tensor([[3., 4.], [1., 0.]]))
        tensor([[25.,  1.]])

    Hint: a[:, None, :] has shape (N, 1, D) and b[None, :, :] has shape (1, M, D).
    """
    difference = a[:, None, :] - b[None, :, :]  # (N, M, D)
    return (difference ** 2).sum(dim=-1)


# ---- NumPy --------------------------------------------------------------------------------------------------------

def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A NumPy array with the values of `tensor`, whatever its device and even if it requires grad.

    Inputs: any tensor (possibly with requires_grad=True, possibly on a GPU).
    Output: np.ndarray of the same shape and matching dtype (float32 -> float32).

    Example:
        >>> to_numpy(torch.ones(2, requires_grad=True))
        array([1., 1.], dtype=float32)

    Hint: `.numpy()` refuses tensors that require grad or live on a GPU: `.detach().cpu()` first.
    """
    return tensor.detach().cpu().numpy()


def from_numpy(array: np.ndarray) -> torch.Tensor:
    """A float32 tensor with the values of a NumPy array of any numeric dtype.

    Inputs: np.ndarray of any shape; uint8 images, float64 (NumPy's default) and ints all occur.
    Output: float32 tensor of the same shape and values.

    Example:
        >>> from_numpy(np.array([1.5, 2.0]))      # float64 in, float32 out
        tensor([1.5000, 2.0000])

    Why float32: PyTorch layers hold float32 weights, and a float64 batch makes them fail with a dtype error.
    """
    return torch.from_numpy(np.asarray(array)).to(torch.float32)


# ---- devices ("GPU basics") ---------------------------------------------------------------------------------------

def get_device() -> torch.device:
    """The best available device: CUDA if `torch.cuda.is_available()`, else MPS (Apple GPUs) if
    `torch.backends.mps.is_available()`, else the CPU.

    Output: a `torch.device`, e.g. device(type='cuda'), device(type='mps') or device(type='cpu').

    Example:
        >>> get_device()          # on a laptop without a GPU
        device(type='cpu')
    """
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def move_to_device(model: nn.Module, batch: tuple[torch.Tensor, ...], device: torch.device | str
                   ) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """Move a model and a batch to `device`; a model and its inputs must live on the same device.

    Inputs: `model`, an nn.Module; `batch`, a tuple of tensors such as (images, labels); `device`.
    Output: (model, batch) with every parameter and every tensor of the batch on `device`.
        Dtypes and values stay as they were.

    Example:
        >>> model, (images, labels) = move_to_device(model, (images, labels), get_device())

    Hint: `model.to(device)` moves the model in place (and returns it); `tensor.to(device)` returns a
    new tensor and leaves the old one where it was.
    """
    model = model.to(device)
    return model, tuple(tensor.to(device) for tensor in batch)
