# Mutant of solutions/week2/lstm.py: the head reads the output of the first time step.
# expect: first time step
"""Week 2 · Exercise 5: An image read as a sequence: an LSTM classifier.

What you will learn
- `nn.LSTM(batch_first=True)` takes (B, T, features) and returns every step's output plus the final hidden
  and cell states, each (num_layers, B, hidden).
- An image (B, C, H, W) becomes a sequence of H rows, each row's W*C values one time step; the class is read
  from the last hidden state, after the network has seen the whole image.
- Why a CNN suits images better: the LSTM sees each row as an unordered vector of W*C numbers and has to carry
  everything through one hidden state; a convolution shares its small filters across positions.

Compared with the CNN, measured on the same data with the same loop (CIFAR-10 from the shared training-split
folder, a class-balanced 6,000-image subset: 4,800 train / 600 val / 600 test; 3 epochs, Adam 1e-3, batch 64,
seed 0; 2-core CPU shared with other jobs, load average ~13, torch with 1 thread):

    model                      parameters   best val acc   test acc   seconds/epoch
    CNN (32, 64, 128), 2 dense    357,034          0.513      0.522            51
    LSTM, hidden 128              117,002          0.307      0.297            13

    python -m solutions.week2.cnn  --dataset folder:/tmp/cifar10 --size 6000 --epochs 3
    python -m solutions.week2.lstm --dataset folder:/tmp/cifar10 --size 6000 --epochs 3

The LSTM is a third of the size and faster per epoch on a CPU (32 small sequential steps against three
convolutions over every pixel), but it learns far less per epoch: it must find a shape from rows of raw numbers,
with no notion that neighbouring pixels belong together.
Run it: `python -m solutions.week2.lstm --epochs 1 --dry-run`.
"""
from __future__ import annotations

import torch
from torch import nn

from shared.registry import register_model


class LSTMClassifier(nn.Module):
    """Classify (B, C, H, W) images by reading their H rows in order with an LSTM.

    num_classes: outputs; input_shape: (H, W, C); hidden_size, num_layers: of the nn.LSTM (batch_first).
    forward: float32 (B, C, H, W) -> logits (B, num_classes), from the last layer's final hidden state.
    Example: `LSTMClassifier(10, (28, 28, 1))(torch.zeros(4, 1, 28, 28)).shape == (4, 10)`.
    """

    def __init__(self, num_classes: int = 10, input_shape: tuple[int, int, int] = (32, 32, 3),
                 hidden_size: int = 128, num_layers: int = 1):
        super().__init__()
        height, width, channels = input_shape
        self.lstm = nn.LSTM(input_size=width * channels, hidden_size=hidden_size, num_layers=num_layers,
                            batch_first=True)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = images.shape
        rows = images.permute(0, 2, 3, 1).reshape(batch, height, width * channels)  # (B, T=H, W*C)
        outputs, _ = self.lstm(rows)
        return self.head(outputs[:, 0])                # the last layer's final state -> (B, num_classes)


def train_lstm(model: nn.Module, train_loader, val_loader, **options) -> dict:
    """The trainer `workbook compare` uses for this model: training.py's `train_with_adam`, as for the CNN."""
    from .training import train_with_adam

    return train_with_adam(model, train_loader, val_loader, **options)


@register_model("lstm", framework="torch", trainer=train_lstm, data_parallel=True,
                description="Reads the image row by row with nn.LSTM")
def build_lstm(num_classes: int, input_shape: tuple[int, int, int] = (32, 32, 3), **options) -> LSTMClassifier:
    return LSTMClassifier(num_classes=num_classes, input_shape=tuple(input_shape), **options)


def main(argv: list[str] | None = None) -> None:
    from .run import main as run_main

    run_main(argv, model_name="lstm")


if __name__ == "__main__":
    main()
