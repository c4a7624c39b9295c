"""PyTorch side of a comparison row: data loaders, building, predictions, latency."""
from __future__ import annotations

import numpy as np
import torch

from shared.timing import latency_ms_per_image


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)


def make_data(split, *, train: bool, spec, batch_size: int, seed: int):
    from shared.data.torch_data import make_loader

    return make_loader(split, batch_size=batch_size, train=train, spec=spec, seed=seed)


def build(entry, num_classes: int, input_shape, seed: int):
    seed_everything(seed)  # identical initial weights for a given seed
    return entry.builder(num_classes=num_classes, input_shape=tuple(input_shape)).to(device())


@torch.inference_mode()
def predict(model, loader) -> tuple[np.ndarray, np.ndarray]:
    """(logits (N, K), labels (N,)) over a loader, in its order."""
    model.eval()
    outputs, labels = [], []
    for images, targets in loader:
        outputs.append(model(images.to(device())).float().cpu())
        labels.append(targets)
    return torch.cat(outputs).numpy(), torch.cat(labels).numpy()


def latency_ms(model, input_shape, batch_size: int, repeats: int) -> float:
    model.eval()
    height, width, channels = input_shape
    batch = torch.rand(batch_size, channels, height, width, device=device())  # (B, C, H, W)

    @torch.inference_mode()
    def forward(images):
        model(images)
        if images.is_cuda:
            torch.cuda.synchronize()

    return latency_ms_per_image(forward, batch, batch_size, repeats=repeats)
