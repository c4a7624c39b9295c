# Alternative (correct) of solutions/week2/cnn.py: (correct) convolutions that keep their bias.
# expect: full marks
"""Week 2 · Exercise 2: A convolutional network in PyTorch.

What you will learn
- The conv block: Conv2d -> BatchNorm2d -> ReLU -> MaxPool2d, and what each does to the shape
  (B, C, H, W) -> (B, width, H/2, W/2).
- Why the classifier's input size must be *computed* (a dummy forward pass) rather than typed in: a network
  written with `nn.Linear(2048, 128)` works for 32x32 colour images and crashes on 28x28 greyscale ones.
- Why the model returns raw scores (logits): `nn.CrossEntropyLoss` applies log-softmax itself.
- How to count parameters, trainable and frozen.

Run it: `python -m solutions.week2.cnn --epochs 1 --dry-run` (all options: `--help`; `--framework keras` trains
the Keras twin from keras_cnn.py, `--dataset folder:/tmp/cifar10` real CIFAR-10).

Measured (default config, 357,034 parameters, Adam 1e-3, batch 64, seed 0, 2-core CPU shared with other jobs at
load average ~13): on CIFAR-10 (a 6,000-image subset of the training split: 4,800 train / 600 val / 600 test) 3
epochs reach 0.513 validation / 0.522 test accuracy at ~51 s per epoch (torch, 1 thread):
`python -m solutions.week2.cnn --dataset folder:/tmp/cifar10 --size 6000 --epochs 3`.
On the embedded `shapes` dataset (10 classes, 8,000 training images) 3 epochs reach 0.468 validation / 0.480 test
accuracy at ~26 s per epoch: `python -m solutions.week2.cnn --epochs 3`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from shared.registry import register_model

POOL_FACTOR = 2  # each block halves the height and the width


@dataclass
class CNNConfig:
    widths: tuple[int, ...] = (32, 64, 128)  # output channels of each conv block; one block per entry
    hidden_units: int = 128                  # width of the fully connected layer before the output
    dropout_rate: float = 0.3                # dropout before each linear layer of the classifier
    kernel_size: int = 3                     # odd, with "same" padding: blocks only change H and W by pooling


def conv_block(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Sequential:
    """Conv2d -> BatchNorm2d -> ReLU -> MaxPool2d: (B, in, H, W) -> (B, out, H // 2, W // 2)."""
    return nn.Sequential(
        # No bias: BatchNorm subtracts the mean right after, which would cancel it; BN's own shift replaces it.
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
        nn.MaxPool2d(POOL_FACTOR),
    )


def flatten_size(features: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Number of features `features` produces for one image of `input_shape` (H, W, C), found by running it.

    Runs in eval mode without gradients, so BatchNorm's running statistics are not touched, and restores the
    module's previous mode.
    """
    height, width, channels = input_shape
    was_training = features.training
    features.eval()
    with torch.no_grad():
        size = features(torch.zeros(1, channels, height, width)).numel()  # (1, C', H', W') -> C'*H'*W'
    features.train(was_training)
    return size


class CNN(nn.Module):
    """A small image classifier: len(widths) conv blocks, then dropout and two linear layers.

    num_classes: number of outputs; input_shape: (H, W, C) of one image, any H, W >= 2 ** len(widths);
    widths, hidden_units, dropout_rate: as in `CNNConfig`.
    forward: float32 (B, C, H, W) -> logits (B, num_classes) (raw scores: no softmax).
    Example: `CNN(10, (28, 28, 1))(torch.zeros(4, 1, 28, 28)).shape == (4, 10)`.
    """

    def __init__(self, num_classes: int = 10, input_shape: tuple[int, int, int] = (32, 32, 3),
                 widths: tuple[int, ...] = CNNConfig.widths, hidden_units: int = CNNConfig.hidden_units,
                 dropout_rate: float = CNNConfig.dropout_rate, kernel_size: int = CNNConfig.kernel_size):
        super().__init__()
        height, width, channels = input_shape
        smallest = POOL_FACTOR ** len(widths)
        if min(height, width) < smallest:
            raise ValueError(f"{len(widths)} pooling blocks need images of at least {smallest}x{smallest}; "
                             f"got {height}x{width}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        channels_in = [channels, *widths[:-1]]
        self.features = nn.Sequential(*[conv_block(c_in, c_out, kernel_size)
                                        for c_in, c_out in zip(channels_in, widths)])
        self.classifier = nn.Sequential(
            nn.Flatten(),                                            # (B, C', H', W') -> (B, C'*H'*W')
            nn.Dropout(dropout_rate),
            nn.Linear(flatten_size(self.features, input_shape), hidden_units),
            nn.ReLU(),
            nn.Dropout(dropout_rate),
            nn.Linear(hidden_units, num_classes),                    # logits: CrossEntropyLoss adds the softmax
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(images))  # (B, C, H, W) -> (B, num_classes)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) number of parameters: every element of every parameter tensor, and those with
    `requires_grad`. BatchNorm's running statistics are buffers, not parameters, so they are not counted."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


def train_cnn(model: nn.Module, train_loader, val_loader, **options) -> dict:
    """The trainer `workbook compare` uses for this model: training.py's `train_with_adam` (Adam, then `fit`).
    Imported when called, so that a bug in training.py never stops this file from importing."""
    from .training import train_with_adam

    return train_with_adam(model, train_loader, val_loader, **options)


@register_model("cnn", framework="torch", trainer=train_cnn, data_parallel=True, gradcam_layer="features.-1.2",
                description="3 conv blocks (conv-BN-ReLU-pool), dropout, 2 dense")
def build_cnn(num_classes: int, input_shape: tuple[int, int, int] = (32, 32, 3), **options) -> CNN:
    """The registry's builder: `create_model("cnn", num_classes=10, input_shape=(32, 32, 3), widths=(16, 32, 64))`."""
    return CNN(num_classes=num_classes, input_shape=tuple(input_shape), **options)


def main(argv: list[str] | None = None) -> None:
    from .run import main as run_main

    run_main(argv, model_name="cnn")


if __name__ == "__main__":
    main()
