"""Week 3's improved CNN on CIFAR-10: held-out accuracy against training time, trained by the reference recipe.

The model and the training function are the reference solution's (`solutions/week3/improved_cnn.py`:
`build_resnet_cnn`, `train_recipe`, `RecipeConfig`); this script only feeds it the 40,000 training images of the
held-out split (bench/common.py), times it, and evaluates the 10,000 held-out images:
- after every epoch on the first 2,000 held-out images with mirror TTA (the curve; the clock is stopped meanwhile),
- at the end on all 10,000, without TTA, with mirror TTA and with airbench's six-view multi-crop TTA (the result).

Training time counts everything `train_recipe` does (gathering the batches, the whitening initialisation, every
step), not the evaluations. `--budget-s S` picks the number of epochs that fits in S seconds on this machine from
a short timing run first (the same steps as the real run); `--epochs E` fixes it instead (runs then compare
across machines).

    python -m bench.improved_cnn --seeds 0 1 2 --budget-s 480        # the 8-minute goal, 3 seeds
    python -m bench.improved_cnn --seeds 0 --epochs 20 --name long    # how far it goes with more time
    python -m bench.improved_cnn --dry-run                            # 2,000 images, 1 epoch, tiny widths
"""
from __future__ import annotations

import argparse
import math
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from bench.common import DEFAULT_DATA, device as pick_device, environment, load_cifar10, save, uptime
from solutions.week3.airbench_tricks import multicrop_logits
from solutions.week3.improved_cnn import RecipeConfig, build_resnet_cnn, train_recipe, tta_logits

QUICK_TEST = 2_000          # held-out images behind each point of the curve
CALIBRATION_EPOCHS = (0.1, 1.1)   # two timing runs one epoch apart that size --budget-s runs (after a warm-up)


def to_tensors(images: np.ndarray, labels: np.ndarray, mean: np.ndarray, std: np.ndarray, device: str):
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255)                       # (N, C, H, W)
    x = (x - torch.from_numpy(mean)[:, None, None]) / torch.from_numpy(std)[:, None, None]
    return x.contiguous(memory_format=torch.channels_last).to(device), torch.from_numpy(labels).to(device)


@torch.no_grad()
def accuracy(model, images: torch.Tensor, labels: torch.Tensor, infer, bf16: bool, batch: int = 1000) -> float:
    correct = 0
    with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=bf16):
        for start in range(0, len(labels), batch):
            logits = infer(model, images[start:start + batch])
            correct += (logits.argmax(1) == labels[start:start + batch]).sum().item()
    model.train()
    return correct / len(labels)


def plain_logits(model, images):
    model.eval()
    return model(images).float()


class Curve:
    """train_recipe callback: held-out accuracy after each epoch, against the training seconds so far."""

    def __init__(self, test_x, test_y, bf16: bool, every: int):
        self.test_x, self.test_y, self.bf16, self.every = test_x[:QUICK_TEST], test_y[:QUICK_TEST], bf16, every
        self.points, self.train_s, self.eval_s = [], 0.0, 0.0

    def on_epoch_end(self, epoch, logs, model):
        start = time.perf_counter()
        self.train_s += logs["epoch_time_s"]
        if (epoch + 1) % self.every == 0:
            acc = accuracy(model, self.test_x, self.test_y, tta_logits, self.bf16)
            self.points.append({"epoch": epoch + 1, "train_s": round(self.train_s, 2), "test_acc": acc,
                                "test_images": len(self.test_y), "train_loss": round(logs["train_loss"], 4)})
            print(f"  epoch {epoch + 1}: {self.train_s:.0f} s, held-out (2,000, mirror TTA) {acc:.4f}", flush=True)
        self.eval_s += time.perf_counter() - start


def train_flops_per_image(config: RecipeConfig, device: str) -> float:
    """FLOPs of one training step per image (forward + backward), counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    model = build_resnet_cnn(10, (32, 32, 3), widths=config.widths).to(device)
    x = torch.randn(8, 3, 32, 32, device=device)
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    return counter.get_total_flops() / 8


def train_one(seed: int, data: dict, config: RecipeConfig, epochs: float, every: int) -> dict:
    torch.manual_seed(seed)
    model = build_resnet_cnn(10, (32, 32, 3), widths=config.widths).to(data["device"])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data["train_x"], data["train_y"]),
                                         batch_size=config.batch_size)
    curve = Curve(data["test_x"], data["test_y"], config.bf16, every)
    start, cpu_start = time.perf_counter(), time.process_time()
    history = train_recipe(model, loader, None, epochs=epochs, config=config, callbacks=[curve], seed=seed)
    train_s = time.perf_counter() - start - curve.eval_s
    cpu_s = time.process_time() - cpu_start
    finals = {name: accuracy(model, data["test_x"], data["test_y"], infer, config.bf16)
              for name, infer in (("plain", plain_logits), ("mirror", tta_logits), ("multicrop", multicrop_logits))}
    images_seen = round(epochs * (len(data["train_y"]) // config.batch_size)) * config.batch_size
    result = {"seed": seed, "epochs": epochs, "train_s": train_s, "cpu_s": cpu_s, "images_per_s": images_seen / train_s,
              "test_acc": finals["multicrop"], "test_acc_by_tta": finals, "curve": curve.points,
              "final_train_loss": history["train_loss"][-1]}
    curve.points.append({"epoch": epochs, "train_s": round(train_s, 2), "test_acc": finals["multicrop"],
                         "test_images": len(data["test_y"]), "final": True})
    print(f"seed {seed}: {epochs} epochs in {train_s:.1f} s ({result['images_per_s']:.0f} img/s), held-out "
          f"{finals['multicrop']:.4f} multi-crop / {finals['mirror']:.4f} mirror / {finals['plain']:.4f} plain",
          flush=True)
    return result


def calibrate(data: dict, config: RecipeConfig, budget_s: float) -> tuple[float, float, float]:
    """Epochs (rounded down to 0.1) whose training fits in `budget_s`, from short timing runs of the recipe: a
    warm-up run (oneDNN's kernel selection), then two lengths exactly one epoch apart, whose difference is the cost
    of an epoch and whose remainder the fixed cost of a run (the whitening statistics, the first batches). One
    epoch apart, because every epoch starts with a fixed cost of its own (the translated copy of the training set,
    `AlternatingFlipBatches`): runs 0.25 epoch apart left it out and sized runs 1.5x too long; timing one length
    alone charged the run's fixed cost to every epoch and sized them ~20 % short."""
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data["train_x"], data["train_y"]),
                                         batch_size=config.batch_size)
    seconds = []
    for fraction in (0.05, *CALIBRATION_EPOCHS):
        torch.manual_seed(0)
        model = build_resnet_cnn(10, (32, 32, 3), widths=config.widths).to(data["device"])
        start = time.perf_counter()
        train_recipe(model, loader, None, epochs=fraction, config=config)
        seconds.append(time.perf_counter() - start)
    (short, long), (t_short, t_long) = CALIBRATION_EPOCHS, seconds[1:]
    seconds_per_epoch = max(t_long - t_short, 1e-9) / (long - short)
    fixed_s = max(0.0, t_short - short * seconds_per_epoch)
    epochs = math.floor(10 * (budget_s - fixed_s) / seconds_per_epoch) / 10
    print(f"calibration: {seconds_per_epoch:.1f} s per epoch + {fixed_s:.1f} s per run -> {epochs} epochs in "
          f"{budget_s:.0f} s", flush=True)
    return max(0.1, epochs), seconds_per_epoch, fixed_s


def prepare(folder: Path, limit: int | None, device: str) -> dict:
    held = load_cifar10(folder, limit)
    mean = (held.train_images.reshape(-1, 3) / 255).mean(0).astype(np.float32)
    std = (held.train_images.reshape(-1, 3) / 255).std(0).astype(np.float32)
    train_x, train_y = to_tensors(held.train_images, held.train_labels, mean, std, device)
    test_x, test_y = to_tensors(held.test_images, held.test_labels, mean, std, device)
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y, "device": device}


def run(data_dir: Path = DEFAULT_DATA, seeds=(0,), epochs: float | None = None, budget_s: float | None = 480.0,
        name: str = "improved_cnn", config: RecipeConfig | None = None, limit: int | None = None,
        every: int = 1) -> dict:
    config = config or RecipeConfig()
    device = pick_device()
    load_before = uptime()
    data = prepare(data_dir, limit, device)
    calibration = None
    if epochs is None:
        epochs, seconds_per_epoch, fixed_s = calibrate(data, config, budget_s)
        calibration = {"s_per_epoch": round(seconds_per_epoch, 2), "fixed_s": round(fixed_s, 2), "load": uptime()}
    runs = [train_one(seed, data, config, epochs, every) for seed in seeds]
    accuracies = np.array([r["test_acc"] for r in runs])
    payload = {"recipe": "week 3 improved CNN (solutions/week3/improved_cnn.py: train_recipe)", "device": device,
               "config": asdict(config), "epochs": epochs, "budget_s": budget_s, "calibration": calibration,
               "seeds": list(seeds),
               "train_images": len(data["train_y"]), "test_images": len(data["test_y"]), "runs": runs,
               "test_acc_mean": float(accuracies.mean()), "test_acc_min": float(accuracies.min()),
               "test_acc_max": float(accuracies.max()),
               "train_s_mean": float(np.mean([r["train_s"] for r in runs])),
               "train_flops_per_image": train_flops_per_image(config, device),
               "load_before": load_before, "load_after": uptime(), "environment": environment()}
    save(name if device == "cpu" else f"{name}_{device}", payload)
    print(f"{name}: held-out {payload['test_acc_mean']:.4f} (min {payload['test_acc_min']:.4f}, max "
          f"{payload['test_acc_max']:.4f}) over {len(seeds)} seed(s) in {payload['train_s_mean']:.0f} s", flush=True)
    return payload


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CIFAR-10 folder with train/<class>/")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget-s", type=float, default=480.0, help="training seconds per seed (sets the epochs)")
    parser.add_argument("--epochs", type=float, default=None, help="fixed epochs instead of a time budget")
    parser.add_argument("--widths", type=int, nargs=3, default=None, help="stage widths (default: the recipe's)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the recipe's)")
    parser.add_argument("--name", default="improved_cnn", help="results/raw/<name>.json")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N of the 40,000 (quick checks)")
    parser.add_argument("--dry-run", action="store_true", help="2,000 training images, 1 epoch, widths 16/32/32")
    args = parser.parse_args(argv)
    config = RecipeConfig()
    changes = {k: v for k, v in (("widths", tuple(args.widths) if args.widths else None),
                                 ("batch_size", args.batch_size), ("learning_rate", args.lr)) if v is not None}
    if "batch_size" in changes and "learning_rate" not in changes:   # the same LR per image
        changes["learning_rate"] = config.learning_rate * changes["batch_size"] / config.batch_size
    if args.dry_run:
        args.seeds, args.epochs, args.limit, args.name = [0], 1.0, 2000, "improved_cnn_dry_run"
        changes.update(widths=(16, 32, 32), batch_size=256, learning_rate=config.learning_rate / 4)
    run(args.data, args.seeds, args.epochs, args.budget_s, args.name, replace(config, **changes), args.limit)


if __name__ == "__main__":
    main()
