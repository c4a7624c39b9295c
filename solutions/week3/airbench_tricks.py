"""Week 3 · Four tricks from the CIFAR-10 speed records (airbench), used by improved_cnn.py's recipe.

Read this after the improved CNN exercise: each trick is a few lines, and each one buys accuracy per epoch, which
on a 2-core CPU is the same as buying time. Keller Jordan's airbench (github.com/KellerJordan/cifar10-airbench,
"94% on CIFAR-10 in 3.29 seconds on a single GPU", 2024) measured them on a GPU; bench/improved_cnn.py measures
them again on this workbook's CPU (bench/results/).

- Whitening (`init_whitening`): the first layer is a 2x2 convolution whose filters are the principal components of
  2x2 image patches, scaled to unit variance (and their negatives, so a following GELU loses nothing). It is
  computed from training images before training and then frozen: the network starts from decorrelated inputs
  instead of having to learn them.
- Alternating flips (`AlternatingFlipBatches`): instead of flipping each image with probability 1/2 at every epoch,
  flip a random half once, then flip *every* image on odd epochs. Each image is seen both ways every two
  epochs, never twice the same way in a row: the same augmentation, less randomness.
- Lookahead with an EMA (`Lookahead`): every few steps, pull the weights towards a slow moving average of
  themselves and continue from there; the average's weight grows towards the end of training, so the final
  weights are an average over the last steps rather than the last noisy step.
- Multi-crop test-time augmentation (`multicrop_logits`): average the logits of the image, its mirror image and
  both of them shifted one pixel up-left and down-right.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


@torch.no_grad()
def init_whitening(conv: nn.Conv2d, images: torch.Tensor, eps: float = 5e-4) -> nn.Conv2d:
    """Set the weights of `conv` (in_channels C, kernel k x k, 2 * C * k * k output channels) to the whitening
    filters of the k x k patches of `images` (N, C, H, W): eigenvectors of the patch covariance divided by the
    square root of their eigenvalue, followed by their negatives. Freezes the weights; returns `conv`."""
    channels, (height, width) = images.shape[1], conv.kernel_size
    patches = images.float().unfold(2, height, 1).unfold(3, width, 1)             # (N, C, H', W', kh, kw)
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, channels * height * width)
    covariance = patches.T @ patches / len(patches)                                 # (C*k*k, C*k*k)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    filters = (eigenvectors.T / torch.sqrt(eigenvalues + eps)[:, None]).flip(0)     # largest component first
    filters = filters.reshape(-1, channels, height, width)
    if conv.out_channels != 2 * len(filters):
        raise ValueError(f"a whitening conv over {channels}x{height}x{width} patches needs {2 * len(filters)} output "
                         f"channels, got {conv.out_channels}")
    conv.weight.copy_(torch.cat([filters, -filters]).to(conv.weight.dtype))
    conv.weight.requires_grad_(False)
    return conv


class AlternatingFlipBatches:
    """Shuffled training batches of in-memory tensors, with random translation and alternating flips.

    images: float (N, C, H, W), already normalised; labels: (N,). Each pass (epoch) crops every image at a random
    offset of up to `translate` pixels (reflection padding), flips every image on odd epochs (a random half of the
    images is flipped once, up front), shuffles and yields (images, labels) batches of `batch_size`, dropping the
    last incomplete one. Iterate once per epoch.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, translate: int = 2,
                 generator: torch.Generator | None = None):
        self.labels, self.batch_size, self.translate = labels, batch_size, translate
        self.generator = generator
        flip = torch.rand(len(images), generator=generator) < 0.5
        images = torch.where(flip[:, None, None, None].to(images.device), images.flip(-1), images)
        self.padded = F.pad(images, (translate,) * 4, mode="reflect") if translate else images
        self.epoch = 0

    def __len__(self) -> int:
        return max(1, len(self.labels) // self.batch_size)

    def _crops(self) -> torch.Tensor:
        if not self.translate:
            return self.padded
        size, shift = self.padded.shape[-2] - 2 * self.translate, 2 * self.translate + 1
        offsets = torch.randint(0, shift, (len(self.padded), 2), generator=self.generator)
        crops = torch.empty_like(self.padded[..., :size, :self.padded.shape[-1] - 2 * self.translate])
        for dy in range(shift):                  # (2t+1)^2 masked copies: faster than a gather per image
            for dx in range(shift):
                chosen = ((offsets[:, 0] == dy) & (offsets[:, 1] == dx)).to(self.padded.device)
                crops[chosen] = self.padded[chosen, :, dy:dy + size, dx:dx + crops.shape[-1]]
        return crops

    def __iter__(self):
        images = self._crops()
        if self.epoch % 2 == 1:
            images = images.flip(-1)
        self.epoch += 1
        order = torch.randperm(len(self.labels), generator=self.generator).to(self.labels.device)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            index = order[start:start + self.batch_size]
            yield images[index], self.labels[index]


class Lookahead:
    """Wraps an optimizer: after every `every` steps from step `start`, blend the model's weights (and BatchNorm
    statistics) into a slow copy, `slow = decay * slow + (1 - decay) * weights`, and continue from the slow copy.

    `decay` grows with training progress as `base ** every * (step / total_steps) ** power`: almost no averaging
    early, strong averaging at the end. `finish()` copies the slow weights into the model (call it at the end of
    each epoch, as airbench does). Everything else (`param_groups`, `zero_grad`, LR schedulers) goes to the
    wrapped optimizer.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, model: nn.Module, total_steps: int, start: int = 0,
                 every: int = 5, base: float = 0.95, power: float = 3.0):
        self.optimizer, self.model, self.total_steps = optimizer, model, max(1, total_steps)
        self.start, self.every, self.base, self.power = start, every, base, power
        self.steps, self.slow = 0, None

    def __getattr__(self, name):
        return getattr(self.optimizer, name)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def _tensors(self) -> list[torch.Tensor]:
        return [t for t in self.model.state_dict().values() if t.dtype.is_floating_point]

    @torch.no_grad()
    def step(self, closure=None):
        loss = self.optimizer.step(closure)
        self.steps += 1
        if self.steps >= self.start and self.steps % self.every == 0:
            if self.slow is None:
                self.slow = [t.clone() for t in self._tensors()]
            else:
                decay = self.base ** self.every * (self.steps / self.total_steps) ** self.power
                for slow, current in zip(self.slow, self._tensors()):
                    slow.lerp_(current, 1 - decay)
                    current.copy_(slow)
        return loss

    @torch.no_grad()
    def finish(self) -> None:
        if self.slow is not None:
            for slow, current in zip(self.slow, self._tensors()):
                current.copy_(slow)


@torch.no_grad()
def multicrop_logits(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Test-time augmentation over six views: weight 1/2 on the mean logits of `images` (B, C, H, W) and their
    mirror images, 1/4 each on the same pair shifted one pixel up-left and one pixel down-right."""
    model.eval()

    def mirrored(x):
        return (model(x).float() + model(x.flip(-1)).float()) / 2

    height, width = images.shape[-2:]
    padded = F.pad(images, (1,) * 4, mode="reflect")
    shifted = (mirrored(padded[..., :height, :width]) + mirrored(padded[..., 2:, 2:])) / 2
    return (mirrored(images) + shifted) / 2
