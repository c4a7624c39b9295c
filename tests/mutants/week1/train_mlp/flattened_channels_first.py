# Mutant of solutions/week1/train_mlp.py: flatten_split flattens in (C, H, W) order.
# expect: (C, H, W) order
"""Week 1 · Exercise 5: Train the MLP you wrote by hand, then the same network with nn.Module and torch.optim.

What you will learn
- the anatomy of a training loop: batches, forward, loss, backward, step, and an evaluation on held-out data;
- that your hand-written backward pass and optimizer do what `loss.backward()` and `optimizer.step()` do:
  the same network, started from the same weights and fed the same batches, ends with the same weights;
- to report train and validation accuracy after every epoch.

The data is the embedded `shapes` dataset (10 classes of drawn shapes), each image flattened into one row.
This module uses your own earlier exercises: `backprop.py` (forward, backward) and `optimizers.py` (SGD).

What to expect (the reference, default config, 10 epochs, seed 0, CPU): training accuracy climbs from 0.11 to
0.63 while validation accuracy stays at 0.09-0.15, barely above chance (0.10); scratch and torch print the same
numbers. An MLP on raw pixels memorises the training images: a shape moved by a few pixels is a new input to
it. Week 2's convolutional networks fix exactly that.

Run it:
    python -m solutions.week1.train_mlp --epochs 5          # (python -m weeks.week1.train_mlp for yours)
    python -m solutions.week1.train_mlp --dry-run           # a tiny, fast run to check that it all works
Run the checks with `pytest autograder/week1/test_train_mlp.py`.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from shared.data import load_dataset

from .backprop import Params, init_mlp, mlp_backward, mlp_forward
from .optimizers import SGD


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 64
    hidden_features: int = 128     # width of the hidden layer
    lr: float = 0.01               # SGD learning rate
    momentum: float = 0.9          # SGD momentum (the same for your SGD and torch.optim.SGD)
    dataset_size: int = 2000       # images in total, split 80 / 10 / 10 into train / val / test by the data layer
    image_size: int = 16           # each image is image_size x image_size x 3 = 768 inputs, flattened to one row
    seed: int = 0                  # weights, data and batch order


# ---- data -------------------------------------------------------------------------------------------------------

def flatten_split(images: np.ndarray, labels: np.ndarray, mean: np.ndarray, std: np.ndarray
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as normalised rows for an MLP.

    Inputs: `images` uint8 (N, H, W, C) in [0, 255]; `labels` int (N,); `mean`, `std` float32 (C,),
        per-channel statistics on the [0, 1] scale.
    Output: (x, y): x float32 (N, H * W * C) with x = (images / 255 - mean) / std, flattened per image in
        (H, W, C) order; y int64 (N,).

    Example:
        >>> x, y = flatten_split(ds.train.images, ds.train.labels, ds.mean, ds.std)
        >>> x.shape, x.dtype                         # for 32 x 32 x 3 images
        (torch.Size([N, 3072]), torch.float32)
    """
    scaled = torch.from_numpy(images).to(torch.float32) / 255.0  # (N, H, W, C)
    normalised = (scaled - torch.as_tensor(mean, dtype=torch.float32)) / torch.as_tensor(std, dtype=torch.float32)
    return normalised.permute(0, 3, 1, 2).reshape(len(images), -1), torch.as_tensor(labels, dtype=torch.int64)


def batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator | None = None):
    """Given to you: yield (x_batch, y_batch) pairs covering the data once, shuffled when `generator` is given."""
    order = torch.randperm(len(x), generator=generator) if generator is not None else torch.arange(len(x))
    for start in range(0, len(x), batch_size):
        index = order[start:start + batch_size]
        yield x[index], y[index]


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Given to you: the fraction of rows whose largest logit is at the true class."""
    return (logits.argmax(dim=1) == y).float().mean().item()


# ---- the network from scratch -----------------------------------------------------------------------------------

def train_one_epoch_scratch(params: Params, optimizer, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                            generator: torch.Generator | None = None) -> tuple[float, float]:
    """One pass over (x, y) with your forward, backward and optimizer; no autograd involved.

    Inputs: `params` from `init_mlp` (updated in place); `optimizer`, e.g. your `SGD(list(params.values()), ...)`;
        `x` float32 (N, D); `y` int64 (N,); `batch_size`; `generator` for the batch order (use `batches`).
    Output: (mean training loss, training accuracy) over the epoch, each weighted by the batch sizes.

    For each batch: forward, backward, put each gradient in the parameter's `.grad`, `optimizer.step()`.
    """
    total_loss, total_correct = 0.0, 0.0
    for x_batch, y_batch in batches(x, y, batch_size, generator):
        optimizer.zero_grad()
        logits, cache = mlp_forward(params, x_batch)
        gradients = mlp_backward(params, cache, y_batch)
        for name, param in params.items():
            param.grad = gradients[name]
        optimizer.step()
        total_loss += F.cross_entropy(logits, y_batch, reduction="sum").item()
        total_correct += accuracy(logits, y_batch) * len(y_batch)
    return total_loss / len(x), total_correct / len(x)


def evaluate_scratch(params: Params, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of the hand-written MLP on (x, y); changes nothing."""
    logits, _ = mlp_forward(params, x)
    return F.cross_entropy(logits, y).item(), accuracy(logits, y)


# ---- the same network with nn.Module ----------------------------------------------------------------------------

class TorchMLP(nn.Module):
    """The same 2-layer MLP with nn.Linear: Linear(D, H) -> ReLU -> Linear(H, K). Input (B, D), output (B, K)."""

    def __init__(self, in_features: int, hidden_features: int, out_features: int):
        super().__init__()
        self.hidden = nn.Linear(in_features, hidden_features)
        self.output = nn.Linear(hidden_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(torch.relu(self.hidden(x)))  # (B, K)


def torch_mlp_from_params(params: Params) -> TorchMLP:
    """A TorchMLP whose weights are copies of `params` ({"W1": (D, H), "b1": (H,), "W2": (H, K), "b2": (K,)}),
    so that model(x) equals mlp_forward(params, x)[0].

    Watch out: nn.Linear(D, H).weight has shape (H, D), the transpose of W1. Copy under torch.no_grad(),
    and copy the values (`weight.copy_(...)`), so that training the model does not change `params`.
    """
    in_features, hidden_features = params["W1"].shape
    model = TorchMLP(in_features, hidden_features, params["W2"].shape[1])
    with torch.no_grad():
        model.hidden.weight.copy_(params["W1"].T)
        model.hidden.bias.copy_(params["b1"])
        model.output.weight.copy_(params["W2"].T)
        model.output.bias.copy_(params["b2"])
    return model


def train_step_torch(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor
                     ) -> torch.Tensor:
    """One optimisation step with autograd: clear the old gradients, forward, mean cross-entropy, backward, step.

    Inputs: `model`; `optimizer` over its parameters; one batch `x` (B, D), `y` (B,).
    Output: the logits (B, K) of the forward pass (computed before the step), detached.
    """
    optimizer.zero_grad()
    logits = model(x)
    F.cross_entropy(logits, y).backward()
    optimizer.step()
    return logits.detach()


def train_one_epoch_torch(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                          batch_size: int, generator: torch.Generator | None = None) -> tuple[float, float]:
    """As `train_one_epoch_scratch`, for an nn.Module and a torch.optim optimizer, one `train_step_torch` a batch."""
    model.train()
    total_loss, total_correct = 0.0, 0.0
    for x_batch, y_batch in batches(x, y, batch_size, generator):
        logits = train_step_torch(model, optimizer, x_batch, y_batch)
        total_loss += F.cross_entropy(logits, y_batch, reduction="sum").item()
        total_correct += accuracy(logits, y_batch) * len(y_batch)
    return total_loss / len(x), total_correct / len(x)


@torch.no_grad()
def evaluate_torch(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of `model` on (x, y), in eval mode and without building a graph."""
    model.eval()
    logits = model(x)
    return F.cross_entropy(logits, y).item(), accuracy(logits, y)


# ---- wiring -------------------------------------------------------------------------------------------------------

def load_flat_data(config: TrainConfig):
    """Given to you: ((x_train, y_train), (x_val, y_val), num_classes) from the shapes dataset."""
    dataset = load_dataset("shapes", size=config.dataset_size, image_size=config.image_size, seed=config.seed)
    train = flatten_split(dataset.train.images, dataset.train.labels, dataset.mean, dataset.std)
    val = flatten_split(dataset.val.images, dataset.val.labels, dataset.mean, dataset.std)
    return train, val, dataset.num_classes


def _build(config: TrainConfig, framework: str, in_features: int, num_classes: int):
    """Given to you: (train_epoch, evaluate) functions for `framework`, both from the same init_mlp weights."""
    params = init_mlp(in_features, config.hidden_features, num_classes, seed=config.seed)
    if framework == "scratch":
        optimizer = SGD(list(params.values()), lr=config.lr, momentum=config.momentum)

        def train_epoch(x, y, generator):
            return train_one_epoch_scratch(params, optimizer, x, y, config.batch_size, generator)

        def evaluate(x, y):
            return evaluate_scratch(params, x, y)
    elif framework == "torch":
        model = torch_mlp_from_params(params)
        optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)

        def train_epoch(x, y, generator):
            return train_one_epoch_torch(model, optimizer, x, y, config.batch_size, generator)

        def evaluate(x, y):
            return evaluate_torch(model, x, y)
    else:
        raise ValueError(f"framework must be 'scratch' or 'torch', got {framework!r}")
    return train_epoch, evaluate


def fit(config: TrainConfig, framework: str = "scratch", data=None, verbose: bool = True) -> dict:
    """Given to you: train the MLP, `framework`="scratch" (your code) or "torch"; returns the training history.

    Both start from the same `init_mlp(seed)` weights and see the same batches, so their histories agree.
    `data` is what `load_flat_data` returns (loaded when None). The history holds per-epoch lists
    train_loss, train_acc, val_loss, val_acc, epoch_time_s, and best_epoch (the index of the best val_acc).
    """
    (x_train, y_train), (x_val, y_val), num_classes = data if data is not None else load_flat_data(config)
    train_epoch, evaluate = _build(config, framework, x_train.shape[1], num_classes)
    generator = torch.Generator().manual_seed(config.seed)
    history = {key: [] for key in ("train_loss", "train_acc", "val_loss", "val_acc", "epoch_time_s")}
    for epoch in range(config.epochs):
        start = time.perf_counter()
        train_loss, train_acc = train_epoch(x_train, y_train, generator)
        val_loss, val_acc = evaluate(x_val, y_val)
        for key, value in zip(history, (train_loss, train_acc, val_loss, val_acc, time.perf_counter() - start)):
            history[key].append(value)
        if verbose:
            print(f"[{framework:>7}] epoch {epoch + 1}/{config.epochs}  train loss {train_loss:.3f} "
                  f"acc {train_acc:.3f}  val loss {val_loss:.3f} acc {val_acc:.3f}")
    history["best_epoch"] = int(np.argmax(history["val_acc"])) if history["val_acc"] else 0
    return history


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="Train the week-1 MLP from scratch and with torch.optim.")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--dry-run", action="store_true", help="a tiny dataset and one epoch, to check the wiring")
    args = parser.parse_args(argv)
    config = TrainConfig(epochs=1, dataset_size=300) if args.dry_run else TrainConfig(epochs=args.epochs)
    print(f"config: {asdict(config)}")
    data = load_flat_data(config)
    histories = {framework: fit(config, framework, data) for framework in ("scratch", "torch")}
    # float32 rounding differs between the two (different order of operations), and training amplifies
    # tiny differences slowly; after one epoch they should agree to about 1e-5.
    gap = abs(histories["scratch"]["val_loss"][0] - histories["torch"]["val_loss"][0])
    print(f"validation loss after epoch 1, scratch vs torch: differ by {gap:.1e} "
          f"({'they agree' if gap < 1e-3 else 'they DISAGREE: check your backward pass and optimizer'})")
    return histories


if __name__ == "__main__":
    main()
