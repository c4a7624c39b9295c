"""Week 2 · lstm.py: an image read row by row; shapes, time steps, and that it can memorise a batch."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from shared.grading.checks import expect_shape, expect_true, fail
from shared.grading.target import exercise

lstm = exercise("week2", "lstm")


@pytest.mark.points(2)
def test_output_shapes():
    for input_shape, num_classes in (((28, 28, 1), 10), ((32, 32, 3), 5), ((16, 20, 3), 4)):
        height, width, channels = input_shape
        model = lstm.LSTMClassifier(num_classes=num_classes, input_shape=input_shape, hidden_size=16).eval()
        with torch.no_grad():
            out = model(torch.randn(3, channels, height, width))
        expect_shape(f"LSTMClassifier(num_classes={num_classes}, input_shape={input_shape}) output", out,
                     (3, num_classes))
        expect_true(bool(torch.isfinite(out).all()), f"the output for input_shape={input_shape} has NaN or inf")


@pytest.mark.points(1)
def test_one_time_step_per_row():
    height, width, channels = 12, 10, 3
    model = lstm.LSTMClassifier(num_classes=4, input_shape=(height, width, channels), hidden_size=8).eval()
    recurrent = [m for m in model.modules() if isinstance(m, nn.LSTM)]
    expect_true(len(recurrent) >= 1, "LSTMClassifier should use an nn.LSTM")
    seen = []
    handle = recurrent[0].register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].shape))
    with torch.no_grad():
        model(torch.randn(2, channels, height, width))
    handle.remove()
    expect_true(recurrent[0].batch_first, "create the nn.LSTM with batch_first=True, so its input is (B, T, features)")
    if seen and tuple(seen[0]) != (2, height, width * channels):
        fail(f"the LSTM received a sequence of shape {tuple(seen[0])}; for (B, C, H, W) = (2, {channels}, {height}, "
             f"{width}) images expected (B, T=H, W*C) = (2, {height}, {width * channels}): one time step per image "
             f"row, holding that row's W*C values (permute to (B, H, W, C) before reshaping).")


@pytest.mark.points(2)
def test_overfits_one_small_batch():
    torch.manual_seed(0)
    model = lstm.LSTMClassifier(num_classes=4, input_shape=(8, 8, 1), hidden_size=32)
    images, labels = torch.randn(16, 1, 8, 8), torch.arange(16) % 4
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(80):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
    if loss.item() > 0.6:
        fail(f"after 80 Adam steps on one batch of 16 images the loss is still {loss.item():.3f}: is the output a "
             f"softmax (CrossEntropyLoss wants logits), or read from a hidden state that ignores the image?")
    expect_true(loss.item() < 0.1, f"after 80 Adam steps on one batch of 16 images the loss is {loss.item():.3f}; "
                                   f"expected the LSTM to memorise them (loss < 0.1)")
