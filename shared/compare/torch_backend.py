"""PyTorch side of a comparison row: data loaders, building, progress, predictions, latency."""
from __future__ import annotations

import numpy as np
import torch

from shared.hardware import training_device_type
from shared.timing import latency_ms_per_image

INFERENCE_PATH = "eager, under torch.inference_mode (PyTorch's usual path)"
EAGER_PATH = INFERENCE_PATH


def device() -> str:
    return training_device_type()


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)


def make_data(split, *, train: bool, spec, batch_size: int, seed: int):
    from shared.data.torch_data import make_loader

    return make_loader(split, batch_size=batch_size, train=train, spec=spec, seed=seed)


class BatchProgress:
    """A training loader that moves a progress bar one step per batch it hands out, and nothing else.

    It calls `iter()` on the loader exactly when it is itself iterated, once per pass (as iterating the loader
    would), and draws no random number: the batch order and every random state stay what they would be without
    it. It is always there, with its bar disabled under --no-progress, so both runs execute the same code.
    """

    def __init__(self, loader, bar, epochs: int):
        self.loader, self.bar, self.epochs, self.passes = loader, bar, epochs, 0

    def __iter__(self):
        iterator = iter(self.loader)        # now, as `iter(loader)` would: the sampler moves to its next epoch
        self.passes += 1
        self.bar.set_postfix_str(f"epoch {self.passes}/{self.epochs}", refresh=False)
        return self._batches(iterator)

    def _batches(self, iterator):
        for batch in iterator:
            self.bar.update(1)
            yield batch

    def advance(self, batches: int = 1) -> None:
        """For a trainer that goes through the loader once and then trains on what it cached (week 4's cached
        transfer): it calls `advance()` once per training step, and the bar moves as it would for a batch."""
        self.bar.update(batches)

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name):
        return getattr(self.loader, name)


def with_progress(loader, bar, epochs: int) -> BatchProgress:
    return BatchProgress(loader, bar, epochs)


def trainer_progress(progress: bool) -> bool:
    """The PyTorch trainers' own bars stay off: compare's BatchProgress shows every torch row the same way."""
    return False


def build(entry, num_classes: int, input_shape, seed: int):
    seed_everything(seed)  # identical initial weights for a given seed
    return entry.builder(num_classes=num_classes, input_shape=tuple(input_shape)).to(device())


def dropout_rates(model) -> list[float]:
    return [float(module.p) for module in model.modules() if isinstance(module, torch.nn.Dropout) and module.p > 0]


@torch.inference_mode()
def predict(model, loader) -> tuple[np.ndarray, np.ndarray]:
    """(logits (N, K), labels (N,)) over a loader, in its order."""
    model.eval()
    outputs, labels = [], []
    for images, targets in loader:
        outputs.append(model(images.to(device())).float().cpu())
        labels.append(targets)
    return torch.cat(outputs).numpy(), torch.cat(labels).numpy()


def test_pixels(loader, indices) -> np.ndarray:
    """The prepared images at `indices` of a test loader (train=False: the dataset's order), channels last
    (N, H, W, C): exactly what the model was given, for Grad-CAM."""
    wanted, found, start = {int(i) for i in indices}, {}, 0
    for images, _ in loader:
        for offset in wanted.intersection(range(start, start + len(images))):
            found[offset] = images[offset - start].permute(1, 2, 0).float().cpu().numpy()
        start += len(images)
        if len(found) == len(wanted):
            break
    return np.stack([found[int(i)] for i in indices]) if len(indices) else np.zeros((0, 1, 1, 1), np.float32)


def latency_ms(model, input_shape, batch_size: int, repeats: int, eager: bool = False) -> float:
    """Per-image latency of PyTorch's usual inference path (eager is the usual path: `eager` changes nothing)."""
    model.eval()
    height, width, channels = input_shape
    batch = torch.rand(batch_size, channels, height, width, generator=torch.Generator().manual_seed(0)).to(device())

    @torch.inference_mode()
    def forward(images):
        model(images)
        if images.is_cuda:
            torch.cuda.synchronize()

    return latency_ms_per_image(forward, batch, batch_size, repeats=repeats)
