"""PyTorch side of a comparison row: data loaders, the default trainer, predictions, latency."""
from __future__ import annotations

import functools

import numpy as np
import torch

from shared.timing import latency_ms_per_image

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)


def make_data(split, *, train: bool, dataset, recipe, seed: int):
    from shared.data.torch_data import make_loader

    return make_loader(split, batch_size=recipe.batch_size, train=train, mean=dataset.mean, std=dataset.std,
                       preprocessing=recipe.preprocessing, augment=None, seed=seed)


class BatchProgress:
    """A loader that shows a progress bar over its batches; everything else is the wrapped loader's."""

    def __init__(self, loader):
        self.loader = loader

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        from tqdm.auto import tqdm

        yield from tqdm(self.loader, desc="  batches", unit="batch", leave=False)

    def __getattr__(self, name):
        return getattr(self.loader, name)


def train_with_fit(fit, model, train, val, *, epochs, learning_rate, seed, device, optimizer="adam",
                   progress=True) -> dict:
    """Week 2's `fit` with the recipe's optimizer; `fit` leaves the best validation epoch's weights in `model`."""
    opt = OPTIMIZERS[optimizer](model.parameters(), lr=learning_rate)
    train = BatchProgress(train) if progress else train  # week 2's bar counts epochs; this one counts batches
    return fit(model, train, val, epochs=epochs, optimizer=opt, device=device, seed=seed, progress=progress)


def default_trainer(impl: str, recipe, progress: bool):
    """The reference rows train with solutions.week2.training.fit; the learner's rows with their own."""
    if impl == "reference":
        from solutions.week2 import training
    else:
        from shared.grading.target import import_exercise

        training = import_exercise("week2", "training")
    return functools.partial(train_with_fit, training.fit, optimizer=recipe.optimizer, progress=progress)


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
