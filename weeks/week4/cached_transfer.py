"""Week 4 · Fine-tuning on a CPU budget: run the frozen blocks once, then train only the top on their output.

What it reaches (bench/transfer.py; numbers in bench/results/summary.md): EfficientNet-Lite0 on CIFAR-10 upsampled
to 128 px, the top 3 blocks trained, on this workbook's 2-core CPU, 40,000 training images, scored on the 10,000
held-out images of the training split (flip TTA), 1 seed, quiet machine (2026-12-01): caching the frozen blocks
(bf16) 287 s, linear probe 81.0 % after 352 s in total, then 7.5 epochs of the top blocks (float32): 91.27 % at
1147 s. The goal of 93 % in 20 minutes is 1.7 points away on this CPU. The Keras twin reaches 91.06 % in 1021 s.
`python -m bench --only transfer` repeats it over 3 seeds. Training the top 4 blocks instead (`top_blocks=4`) for
5.4 epochs reached 93.00 % (1 seed, 40,000 images, measured on an AVX2-only CPU, 2026-12-01); its time on the
machine above is not measured yet (bench/results/summary.md).

What you will learn
- In fine-tuning, every frozen block computes the same activations for an image at every epoch. So compute them
  once: `split_backbone` cuts the model into a frozen `bottom` and a trainable `top` (the top blocks, global
  average pooling and the head), `cache_activations` runs the bottom over the training set once, and every
  epoch after that only runs the top. On a CPU the bottom is most of the cost, so epochs become several times
  cheaper, and you can afford a larger input resolution, which is what a network pretrained on 224 px
  ImageNet photos wants.
- Augmentation has to happen before the cache: each image is cached as it is and mirrored, and every epoch picks
  one of the two at random. (Random crops would need one cached copy per crop.)
- The two stages of fine_tuning.py stay: first the head alone, on pooled features of the cached activations
  (seconds: a linear probe), then the top blocks and the head together, starting from that head.
- BatchNorm stays frozen, as in the rest of the week: the top runs in eval mode the whole time (its gradients
  still flow; eval mode only fixes the normalisation statistics and turns dropout off).
- Precision is a measurement, not a habit: the frozen pass uses bf16 autocast only where the hardware has bf16
  units (`shared.hardware.native_bf16`), and the top trains in float32 because its depthwise blocks ran faster in
  float32 even there (bench/transfer_top_precision.py). The cache is stored in bf16 either way: half the memory.

`fine_tune_cached` is the trainer of the "transfer_lite0" rows of `workbook compare` (fine_tuning.py registers it).
Run it: `python -m weeks.week4.cached_transfer --dry-run`
"""
from __future__ import annotations

import argparse
import copy
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from shared.backbones import torch_backbones
from shared.hardware import native_bf16

from .feature_extraction import fit_linear_head
from .heads import find_head


@dataclass
class CachedConfig:
    top_blocks: int = 3              # top blocks of torch_backbones.blocks(model) trained (Lite0: 2 stages + head conv)
    learning_rate: float = 2e-3      # AdamW peak for the head; the top blocks get backbone_lr_factor x this
    backbone_lr_factor: float = 0.2  # pretrained weights move more slowly (fine_tuning.py uses 0.1 on small data)
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    batch_size: int = 128
    head_steps: int = 300            # linear probe: full-batch Adam steps on the pooled features
    head_weight_decay: float = 5e-3   # the probe's L2 (Adam); 10x more helped on 10,000 images, less data needs more
    warmup: float = 0.15             # fraction of the top-training steps spent warming up (then linear decay)
    bf16: bool = native_bf16()       # bf16 autocast for the frozen pass and scoring, where the hardware has it
    top_bf16: bool = False           # float32 + channels_last: 1.5-2x the images/s of bf16 for the top here
    score_images: int = 5000         # training images re-scored after each epoch (train loss and accuracy)


def recipe_statement(epochs: int, compute: str) -> dict:
    """What `workbook compare` states about a row trained by this recipe (fine_tuning.py and keras_transfer.py
    register it): every value is read from CachedConfig, which the trainers use, so the statement cannot drift."""
    c = CachedConfig
    return dict(
        optimizer=(f"linear probe: full-batch Adam ({c.head_steps} steps, L2 {c.head_weight_decay:g}); then AdamW on "
                   f"the top {c.top_blocks} blocks at {c.backbone_lr_factor:g}x the head's rate"),
        learning_rate=c.learning_rate,
        schedule=f"first epoch: the probe; then warm-up over {c.warmup:.0%} of the steps, linear decay to 0",
        augmentation="horizontal flip (each image cached as it is and mirrored)",
        weight_decay=f"{c.weight_decay:g} (AdamW)", label_smoothing=c.label_smoothing, epochs=epochs,
        batch_size=c.batch_size,
        other=f"the frozen blocks run once (activations cached), BatchNorm frozen, {compute}, ImageNet weights")


class Top(nn.Module):
    """The trainable end of a backbone: its top blocks, global average pooling and the head.
    Activations (B, C, h, w) of the block below -> logits (B, num_classes)."""

    def __init__(self, blocks: list[nn.Module], head: nn.Linear):
        super().__init__()
        self.blocks = nn.Sequential(*[nn.Sequential(*b) if isinstance(b, nn.ModuleList) else b for b in blocks])
        self.head = head

    def features(self, activations: torch.Tensor) -> torch.Tensor:
        return self.blocks(activations).float().mean(dim=(2, 3))          # (B, F)

    def forward(self, activations: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(activations))


def split_backbone(model: nn.Module, top_blocks: int) -> tuple[nn.Module, Top]:
    """(bottom, top) sharing `model`'s modules: bottom(images) -> activations, top(activations) -> logits, so that
    top(bottom(x)) == model(x) for backbones whose last block feeds a global average pool and the head
    (EfficientNet, ResNet). Freezes the bottom; the top's blocks and head are trainable, BatchNorm frozen."""
    blocks = torch_backbones.blocks(model)
    if not 1 <= top_blocks < len(blocks):
        raise ValueError(f"top_blocks must be between 1 and {len(blocks) - 1}, got {top_blocks}")
    if any(isinstance(m, nn.Linear) for block in blocks[-top_blocks:] for m in block.modules()):
        raise ValueError(f"{type(model).__name__}'s top blocks contain a Linear layer: pooling does not come last, "
                         "so the cached recipe cannot split it (use fine_tuning.fine_tune)")
    bottom = nn.Sequential(*[nn.Sequential(*b) if isinstance(b, nn.ModuleList) else b for b in blocks[:-top_blocks]])
    bottom.requires_grad_(False).eval()
    top = Top(blocks[-top_blocks:], find_head(model)[1]).requires_grad_(True).eval()
    for module in top.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.requires_grad_(False)
    return bottom, top


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else nullcontext()


@torch.no_grad()
def cache_activations(bottom: nn.Module, batches, *, mirror: bool = True, bf16: bool = CachedConfig.bf16,
                      device="cpu") -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Run the frozen `bottom` once over `batches` of (images (B, C, H, W), labels): returns (activations,
    activations of the mirror images or None, labels), activations in bf16 (N, C', h, w), on the CPU."""
    device = torch.device(device)
    plain, mirrored, labels = [], [], []
    with _autocast(device, bf16):
        for images, targets in batches:
            images = images.to(device).contiguous(memory_format=torch.channels_last)
            plain.append(bottom(images).to("cpu", torch.bfloat16))
            if mirror:
                mirrored.append(bottom(images.flip(-1)).to("cpu", torch.bfloat16))
            labels.append(targets.cpu())
    return torch.cat(plain), torch.cat(mirrored) if mirror else None, torch.cat(labels)


@torch.no_grad()
def top_logits(top: Top, activations: torch.Tensor, mirrored: torch.Tensor | None = None, *,
               bf16: bool = CachedConfig.bf16, device="cpu", batch: int = 500) -> torch.Tensor:
    """Logits (N, K) of cached activations, averaged with those of the mirror images when given (flip TTA)."""
    device = torch.device(device)
    outputs = []
    with _autocast(device, bf16):
        for start in range(0, len(activations), batch):
            views = [activations] if mirrored is None else [activations, mirrored]
            logits = [top(v[start:start + batch].to(device).float().contiguous(memory_format=torch.channels_last))
                      .float() for v in views]
            outputs.append(sum(logits).cpu() / len(logits))
    return torch.cat(outputs)


@torch.no_grad()
def pooled_features(top: Top, activations: torch.Tensor, *, bf16: bool = CachedConfig.bf16, device="cpu",
                    batch: int = 500):
    device = torch.device(device)
    with _autocast(device, bf16):
        return torch.cat([top.features(activations[s:s + batch].to(device).float()
                                       .contiguous(memory_format=torch.channels_last)).float().cpu()
                          for s in range(0, len(activations), batch)])


def fit_head(top: Top, cache: tuple, config: CachedConfig, device="cpu", seed: int = 0) -> None:
    """Stage 1, the linear probe: fit a linear head on the pooled features of the cached activations (and their
    mirror images), on standardised features, then fold the standardisation into `top.head`'s weights."""
    plain, mirrored, labels = cache
    features = pooled_features(top, plain, bf16=config.bf16, device=device)
    if mirrored is not None:
        features = torch.cat([features, pooled_features(top, mirrored, bf16=config.bf16, device=device)])
        labels = torch.cat([labels, labels])
    mean, std = features.mean(0), features.std(0) + 1e-6
    probe = fit_linear_head((features - mean) / std, labels, top.head.out_features, steps=config.head_steps,
                            weight_decay=config.head_weight_decay, seed=seed)
    with torch.no_grad():
        top.head.weight.copy_(probe.weight / std)
        top.head.bias.copy_(probe.bias - (probe.weight * mean / std).sum(1))


def _evaluate(top: Top, cache: tuple, config: CachedConfig, device) -> tuple[float, float]:
    """(loss, accuracy) on a cache, with flip TTA when it holds mirrored copies. The loss is the training loss,
    label smoothing included (as Keras reports val_loss), so that train and validation losses, and the probe's
    epoch and the later ones, are the same function: week 3's diagnosis compares them."""
    plain, mirrored, labels = cache
    logits = top_logits(top, plain, mirrored, bf16=config.bf16, device=device)
    loss = F.cross_entropy(logits, labels, label_smoothing=config.label_smoothing)
    return loss.item(), (logits.argmax(1) == labels).float().mean().item()


def score_sample(cache: tuple, images: int, seed: int = 0) -> tuple:
    """A fixed random subset of a training cache (plain, mirrored, labels), to score the training set after each
    epoch exactly as the validation set is scored."""
    plain, mirrored, labels = cache
    index = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))[:images]
    return plain[index], None if mirrored is None else mirrored[index], labels[index]


def train_top(top: Top, cache: tuple, *, epochs: float, config: CachedConfig, val: tuple | None = None,
              device="cpu", seed: int = 0, callbacks=(), score_train: tuple | None = None, on_step=None) -> dict:
    """Stage 2: train the top blocks and the head on the cached activations (each epoch picks the plain or the
    mirrored copy of every image at random), AdamW with a warmup-then-linear-decay schedule, label smoothing.
    Returns week 2's history format; `val` (a cache) is evaluated after each epoch, with flip TTA. The training
    loss and accuracy are the running means over the epoch, or, with `score_train` (a cache, e.g. from
    `score_sample`), that cache scored after the epoch like `val`: then the probe's epoch, the later ones and the
    validation set are measured the same way, which is what week 3's diagnosis compares. `on_step()`, if given,
    is called after every step (a progress bar)."""
    device = torch.device(device)
    plain, mirrored, labels = cache
    generator = torch.Generator().manual_seed(seed)
    head = list(top.head.parameters())
    blocks = [p for p in top.blocks.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": head, "lr": config.learning_rate},
                                   {"params": blocks, "lr": config.learning_rate * config.backbone_lr_factor}],
                                  weight_decay=config.weight_decay)
    batch_size = min(config.batch_size, len(labels))
    steps_per_epoch = len(labels) // batch_size
    total = max(1, round(epochs * steps_per_epoch))
    warmup = min(total - 1, round(config.warmup * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: (step + 1) / (warmup + 1) if step < warmup else (total - step) / (total - warmup))
    history = {key: [] for key in ("train_loss", "train_acc", "val_loss", "val_acc", "epoch_time_s", "lr")}
    step = 0
    for epoch in range(math.ceil(total / steps_per_epoch)):
        start, lr = time.perf_counter(), optimizer.param_groups[0]["lr"]
        order = torch.randperm(len(labels), generator=generator)
        flip = torch.rand(len(labels), generator=generator) < 0.5
        total_loss, correct, seen = 0.0, 0, 0
        for index in order[:min(steps_per_epoch, total - step) * batch_size].split(batch_size):
            chosen = plain[index] if mirrored is None else torch.where(
                flip[index, None, None, None], mirrored[index], plain[index])
            x = chosen.to(device).float().contiguous(memory_format=torch.channels_last)
            y = labels[index].to(device)
            with _autocast(device, config.top_bf16):   # bf16 slows these depthwise blocks on a CPU without AMX
                logits = top(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            if on_step is not None:
                on_step()
            total_loss += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
        logs = {"train_loss": total_loss / seen, "train_acc": correct / seen,
                "epoch_time_s": time.perf_counter() - start, "lr": lr}
        if score_train is not None:
            logs["train_loss"], logs["train_acc"] = _evaluate(top, score_train, config, device)
        if val is not None:
            logs["val_loss"], logs["val_acc"] = _evaluate(top, val, config, device)
        for key, value in logs.items():
            history[key].append(value)
        for callback in callbacks:
            callback.on_epoch_end(epoch, logs, top)
    return history


def fine_tune_cached(model: nn.Module, train_loader, val_loader, *, epochs: int, learning_rate: float = 1e-3,
                     seed: int | None = 0, device=None, progress: bool = True,
                     config: CachedConfig | None = None) -> dict:
    """Both stages on cached activations (the compare trainer protocol): one history entry for the linear probe,
    then `epochs - 1` epochs of the top blocks. Leaves in `model` the weights of the best validation epoch."""
    config = config or CachedConfig(learning_rate=learning_rate,
                                    batch_size=getattr(train_loader, "batch_size", None) or CachedConfig.batch_size)
    device = torch.device(device or "cpu")
    seed = 0 if seed is None else seed
    torch.manual_seed(seed)
    model.to(device)
    bottom, top = split_backbone(model, config.top_blocks)
    start = time.perf_counter()
    train = cache_activations(bottom, train_loader, bf16=config.bf16, device=device)
    val = cache_activations(bottom, val_loader, bf16=config.bf16, device=device)
    fit_head(top, train, config, device, seed)
    scored = score_sample(train, config.score_images, seed)  # the training set, scored like `val` every epoch
    train_loss, train_acc = _evaluate(top, scored, config, device)
    val_loss, val_acc = _evaluate(top, val, config, device)
    history = {"train_loss": [train_loss], "train_acc": [train_acc], "val_loss": [val_loss], "val_acc": [val_acc],
               "epoch_time_s": [time.perf_counter() - start], "lr": [learning_rate]}
    best = (val_acc, copy.deepcopy(top.state_dict()))
    if epochs > 1:
        class KeepBest:
            def on_epoch_end(self, epoch, logs, top_module):
                nonlocal best
                if logs["val_acc"] > best[0]:
                    best = (logs["val_acc"], copy.deepcopy(top_module.state_dict()))

        tuned = train_top(top, train, epochs=epochs - 1, config=config, val=val, device=device, seed=seed,
                          callbacks=[KeepBest()], score_train=scored,
                          on_step=getattr(train_loader, "advance", None))   # workbook compare's progress bar
        for key in history:
            history[key] += tuned[key]
    top.load_state_dict(best[1])
    history["best_epoch"] = max(range(len(history["val_acc"])), key=history["val_acc"].__getitem__)
    return history


def main(argv: list[str] | None = None) -> None:
    from shared.data import load_dataset
    from shared.data.torch_data import make_loader

    from .heads import build_transfer_model

    parser = argparse.ArgumentParser(description="Cached fine-tuning: the frozen blocks run once.")
    parser.add_argument("--dataset", default="shapes", help="shapes, cifar10, or folder:PATH")
    parser.add_argument("--epochs", type=int, default=4, help="1 for the linear probe, the rest for the top blocks")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--dry-run", action="store_true", help="a few hundred images, to check that it runs")
    args = parser.parse_args(argv)
    ds = load_dataset(args.dataset, size=300 if args.dry_run else None)
    model, preprocessing = build_transfer_model(ds.num_classes, image_size=args.image_size)
    train, val = (make_loader(split, batch_size=64, train=False, mean=ds.mean, std=ds.std,
                              preprocessing=preprocessing) for split in (ds.train, ds.val))
    history = fine_tune_cached(model, train, val, epochs=2 if args.dry_run else args.epochs)
    print(f"val accuracy per epoch: {[round(a, 3) for a in history['val_acc']]}")


if __name__ == "__main__":
    main()
