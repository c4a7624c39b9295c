"""Week 2 · lstm.py: an image read row by row; shapes, time steps, and that it can memorise a batch."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from shared.grading.checks import close, describe, expect_close, expect_shape, expect_true, fail
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
    handle = recurrent[0].register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].detach()))
    images = torch.randn(2, channels, height, width)
    with torch.no_grad():
        model(images)
    handle.remove()
    expect_true(recurrent[0].batch_first, "create the nn.LSTM with batch_first=True, so its input is (B, T, features)")
    if seen and tuple(seen[0].shape) != (2, height, width * channels):
        fail(f"the LSTM received a sequence of shape {tuple(seen[0].shape)}; for (B, C, H, W) = (2, {channels}, "
             f"{height}, {width}) images expected (B, T=H, W*C) = (2, {height}, {width * channels}): one time step per "
             f"image row, holding that row's W*C values (permute to (B, H, W, C) before reshaping).")
    rows = images.permute(0, 2, 3, 1).reshape(2, height, width * channels)
    if seen and close(seen[0], images.reshape(2, height, width * channels), atol=0) and not close(seen[0], rows):
        fail("the LSTM's time steps are not the image rows: reshape(B, H, W*C) of a (B, C, H, W) batch mixes the "
             "channels' planes into rows. Move the channels last first: images.permute(0, 2, 3, 1).reshape(B, H, W*C).")
    expect_close("the sequence the LSTM receives (step t = image row t, its W*C values)", seen[0], rows, atol=0)


@pytest.mark.points(2)
def test_logits_come_from_the_last_layers_final_hidden_state():
    torch.manual_seed(0)
    model = lstm.LSTMClassifier(num_classes=4, input_shape=(6, 5, 2), hidden_size=8, num_layers=2).eval()
    recurrent = [m for m in model.modules() if isinstance(m, nn.LSTM)]
    heads = [m for m in model.modules() if isinstance(m, nn.Linear) and m.in_features == 8]  # reads hidden_size
    expect_true(len(recurrent) == 1 and recurrent[0].num_layers == 2 and heads,
                "LSTMClassifier(num_layers=2, hidden_size=8) should hold one nn.LSTM(num_layers=2) and a Linear "
                "reading its 8 hidden features")
    states, read = {}, []
    recurrent[0].register_forward_hook(lambda m, i, o: states.update(outputs=o[0], hidden=o[1][0], cell=o[1][1]))
    heads[0].register_forward_pre_hook(lambda m, i: read.append(i[0]))
    with torch.no_grad():
        model(torch.randn(3, 2, 6, 5))
    expect_true(bool(read) and bool(states), "the head (the Linear reading the LSTM's hidden state) or the LSTM was not used in forward")
    got = read[-1]
    candidates = {
        "the final CELL state (c_n): the classifier reads the hidden state h_n, the LSTM's output":
            states["cell"][-1],
        "the output of the FIRST time step (outputs[:, 0]): it has seen only the first row; read the last step":
            states["outputs"][:, 0],
        "the first layer's final state (h_n[0]): with num_layers=2, the last layer's is h_n[-1]":
            states["hidden"][0],
    }
    if close(got, states["hidden"][-1], atol=1e-6):
        return
    for bug, value in candidates.items():
        if close(got, value, atol=1e-6):
            fail(f"the head reads {bug}.")
    fail(f"the head's input {describe(got)} is not the last layer's final hidden state h_n[-1] "
         f"({describe(states['hidden'][-1])}): that is the summary of the whole image the classifier should read.")


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
