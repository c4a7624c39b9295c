"""The speed tricks behind week 3's and week 4's CIFAR-10 recipes (airbench_tricks.py, cached_transfer.py,
keras_cached_transfer.py): each does what its docstring promises, on tiny inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from shared.backbones import torch_backbones  # noqa: F401 — torch/timm before TensorFlow
from solutions.week3 import improved_cnn
from solutions.week3.airbench_tricks import AlternatingFlipBatches, Lookahead, init_whitening, multicrop_logits


def test_whitening_decorrelates_patches():
    generator = torch.Generator().manual_seed(0)
    mixing = torch.tensor([[1.0, 0.8, 0.3], [0.0, 0.5, 0.2], [0.0, 0.0, 0.1]])
    images = torch.einsum("dc,nchw->ndhw", mixing, torch.randn(200, 3, 8, 8, generator=generator))
    conv = init_whitening(nn.Conv2d(3, 24, 2), images, eps=0.0)
    with torch.no_grad():
        out = nn.functional.conv2d(images, conv.weight)[:, :12]             # the 12 positive filters
    flat = out.permute(0, 2, 3, 1).reshape(-1, 12)
    covariance = flat.T @ flat / len(flat)
    assert torch.allclose(covariance, torch.eye(12), atol=0.05), covariance.diagonal()
    assert not conv.weight.requires_grad
    assert torch.equal(conv.weight[12:], -conv.weight[:12])
    with pytest.raises(ValueError, match="24 output channels"):
        init_whitening(nn.Conv2d(3, 12, 2), images)


def test_alternating_flips_show_each_image_both_ways_every_two_epochs():
    images = torch.randn(16, 1, 4, 4)
    labels = torch.arange(16)                      # label = index: follow each image through the shuffles
    batches = AlternatingFlipBatches(images, labels, batch_size=16, translate=0,
                                     generator=torch.Generator().manual_seed(0))
    seen = []
    for _ in range(2):
        [(x, y)] = list(batches)
        seen.append(x[torch.argsort(y)])
    flipped_first = (seen[0] != images).flatten(1).any(1)
    assert 0 < flipped_first.sum() < 16                                     # a random part, flipped up front
    assert torch.equal(seen[1], seen[0].flip(-1))                           # the next epoch: the other way round
    for index in range(16):
        assert torch.equal(seen[0][index], images[index].flip(-1) if flipped_first[index] else images[index])


def test_translation_keeps_shape_and_moves_pixels():
    images = torch.arange(2 * 1 * 8 * 8, dtype=torch.float32).reshape(2, 1, 8, 8)
    batches = AlternatingFlipBatches(images, torch.arange(2), batch_size=2, translate=2,
                                     generator=torch.Generator().manual_seed(1))
    [(x, _)] = list(batches)
    assert x.shape == images.shape and len(batches) == 1


def test_lookahead_pulls_the_weights_towards_the_slow_copy():
    model = nn.Linear(2, 1, bias=False)
    nn.init.zeros_(model.weight)
    inner = torch.optim.SGD(model.parameters(), lr=1.0)
    lookahead = Lookahead(inner, model, total_steps=2, start=0, every=1, base=0.5, power=0.0)
    for _ in range(2):
        lookahead.zero_grad()
        model(torch.ones(1, 2)).sum().backward()   # gradient 1: each SGD step moves the weights by -1
        lookahead.step()
    # step 1 starts the slow copy at -1; step 2: SGD to -2, then slow = 0.5 * -1 + 0.5 * -2 = -1.5
    assert torch.allclose(model.weight, torch.full((1, 2), -1.5))
    assert lookahead.param_groups is inner.param_groups


def test_multicrop_is_a_weighted_mean_of_six_views():
    model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 4))
    images = torch.full((2, 3, 8, 8), 0.5)
    assert torch.allclose(multicrop_logits(model, images), model(images), atol=1e-6)   # invariant model, flat images
    assert not model.training


def test_recipe_takes_fractional_epochs_and_no_validation():
    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(64, 3, 16, 16), torch.arange(64) % 2)
    model = improved_cnn.build_resnet_cnn(2, (16, 16, 3), widths=(8, 8, 8))
    history = improved_cnn.train_recipe(model, torch.utils.data.DataLoader(data, batch_size=32), None, epochs=1.5,
                                        config=improved_cnn.RecipeConfig(widths=(8, 8, 8)))
    assert len(history["train_loss"]) == 2 and history["val_acc"] == []
    assert not model.whiten.weight.requires_grad                             # whitened from the training images
    assert all(np.isfinite(history["train_loss"]))


def test_cached_split_computes_the_same_logits_as_the_model():
    from solutions.week4.cached_transfer import split_backbone
    from solutions.week4.heads import build_transfer_model

    model, _ = build_transfer_model(5, image_size=64)
    model.eval()
    bottom, top = split_backbone(model, 3)
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(top(bottom(images)), model(images), atol=1e-4)
    assert not any(p.requires_grad for p in bottom.parameters())
    assert top.head.weight.requires_grad
    assert not any(m.weight.requires_grad for m in top.modules() if isinstance(m, nn.BatchNorm2d))
    with pytest.raises(ValueError, match="top_blocks"):
        split_backbone(model, 0)


@pytest.mark.timeout(300)
def test_keras_cached_split_computes_the_same_logits_as_the_model():
    from solutions.week4.keras_cached_transfer import split_keras_backbone
    from solutions.week4.keras_transfer import build_keras_transfer

    model, _ = build_keras_transfer(5, 64)
    bottom, top, pooled = split_keras_backbone(model, 3)
    images = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")
    activations = bottom.predict(images, verbose=0)
    np.testing.assert_allclose(top.predict(activations, verbose=0), model.predict(images, verbose=0), atol=1e-4)
    assert pooled.output.shape[-1] == 1280 and not bottom.trainable


@pytest.mark.timeout(300)
def test_both_linear_probes_fit_the_same_head():
    """The twins' stage 1 is one algorithm (standardised features, full-batch Adam with L2, the standardisation
    folded back into the head): on the same features the two heads give the same loss and the same predictions.
    (Keras' probe once skipped the standardisation and the L2: 2.1 training loss where PyTorch's had 0.9.)"""
    import keras
    import torch.nn.functional as F

    from solutions.week4.cached_transfer import CachedConfig, Top, fit_head
    from solutions.week4.keras_cached_transfer import fit_keras_head

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 200)
    features = (rng.normal(size=(200, 16)) * rng.uniform(0.1, 3, 16) + 2.0).astype("float32")
    features[:, :4] += 1.5 * np.eye(4, dtype="float32")[labels]            # learnable, on unequal scales
    config = CachedConfig(bf16=False)
    top = Top([nn.Identity()], nn.Linear(16, 4))
    fit_head(top, (torch.from_numpy(features)[:, :, None, None], None, torch.from_numpy(labels)), config)
    torch_logits = top.head(torch.from_numpy(features)).detach()

    inputs = keras.Input((1, 1, 16))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    keras_top = keras.Model(inputs, keras.layers.Dense(4)(pooled))
    fit_keras_head(keras_top, keras.Model(inputs, pooled), features[:, None, None, :], None, labels, config)
    keras_logits = np.asarray(keras_top.predict(features[:, None, None, :], verbose=0))

    losses = [F.cross_entropy(torch.as_tensor(np.asarray(logits)), torch.from_numpy(labels)).item()
              for logits in (torch_logits, keras_logits)]
    assert abs(losses[0] - losses[1]) < 0.02 * losses[0], losses
    agree = (torch_logits.argmax(1).numpy() == keras_logits.argmax(1)).mean()
    assert agree >= 0.97, agree
