"""Week 3 · improved_cnn.py: the residual CNN's shapes, its test-time augmentation, and that the recipe learns."""
from __future__ import annotations

import copy

import pytest
import torch

from shared import registry
from shared.grading.checks import close, expect_close, expect_finite, expect_shape, expect_true, fail
from shared.grading.target import exercise

improved = exercise("week3", "improved_cnn")


@pytest.mark.points(2)
@pytest.mark.parametrize("input_shape", [(32, 32, 3), (16, 16, 1), (24, 20, 3)])
def test_resnet_cnn_shapes(input_shape):
    torch.manual_seed(0)
    model = improved.build_resnet_cnn(7, input_shape)
    height, width, channels = input_shape
    logits = model(torch.randn(3, channels, height, width))
    expect_shape(f"logits for input {input_shape}", logits, (3, 7))
    expect_true(torch.isfinite(logits).all().item(), "the logits contain NaN or inf")
    expect_true(any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()), "the recipe relies on BatchNorm layers")


@pytest.mark.points(1)
def test_registered():
    module = improved.module()  # importing the module runs its @register_model
    impl = "reference" if module.__name__.startswith("solutions.") else "mine"
    # Read the table directly: get_entry("...", impl="reference") would import every reference model (and TF).
    entry = registry._REGISTRY.get(("resnet_cnn", "torch", impl))
    expect_true(entry is not None, f"{module.__file__} should register its builder with "
                                   f"@register_model(\"resnet_cnn\", framework=\"torch\", ...)")
    expect_true(callable(entry.info.get("trainer")), "register resnet_cnn with its recipe as `trainer=`")
    logits = entry.builder(num_classes=3, input_shape=(16, 16, 3))(torch.randn(2, 3, 16, 16))
    expect_shape("logits of the registered builder", logits, (2, 3))


@pytest.mark.points(1)
def test_tta_averages_an_image_and_its_mirror():
    torch.manual_seed(0)
    model = improved.build_resnet_cnn(4, (16, 16, 3))
    images = torch.randn(8, 3, 16, 16)
    model.train()  # as after training: TTA must switch to eval mode itself
    with torch.no_grad():
        model(images * 3 + 1)  # running statistics that differ from any one batch's
    state = copy.deepcopy(model.state_dict())
    got = improved.tta_logits(model.train(), images)

    def average(train: bool, flip: int) -> torch.Tensor:
        model.load_state_dict(state)
        model.train(train)
        with torch.no_grad():
            return (model(images) + model(images.flip(flip))) / 2

    expected, in_train_mode, upside_down = average(False, -1), average(True, -1), average(False, -2)
    if close(got, in_train_mode, atol=1e-4):
        fail("tta_logits ran the model in training mode (BatchNorm used the batch's statistics): predict in eval mode "
             "(model.eval() first).")
    if close(got, upside_down, atol=1e-4):
        fail("tta_logits averaged with the images turned upside down (flip(-2), the height axis): the mirror image "
             "is flip(-1), the width axis.")
    expect_close("TTA logits", got, expected, atol=1e-4,
                 hint="average the logits of the images and their mirrors (flip(-1)), in eval mode")


@pytest.mark.points(2)
@pytest.mark.timeout(60)
def test_recipe_learns():
    torch.manual_seed(0)
    images = torch.randn(64, 3, 16, 16)
    labels = (images[:, 0].mean(dim=(1, 2)) > 0).long()     # brightness of the red channel decides the class
    images[:, 0] += (labels[:, None, None] * 2 - 1) * 1.5
    dataset = torch.utils.data.TensorDataset(images, labels)
    train = torch.utils.data.DataLoader(dataset, batch_size=32, shuffle=True)
    model = improved.build_resnet_cnn(2, (16, 16, 3), widths=(8, 16, 16))
    history = improved.train_recipe(model, train, train, epochs=5,
                                    config=improved.RecipeConfig(learning_rate=0.2, widths=(8, 16, 16)))
    expect_finite("history['val_acc']", history.get("val_acc", [float("nan")]))
    expect_true(max(history["val_acc"]) >= 0.9, f"the recipe should fit an easy 2-class task, val_acc {history['val_acc']}")
