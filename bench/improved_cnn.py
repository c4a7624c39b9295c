"""Accuracy against training time for week 3's improved CNN (solutions/week3/improved_cnn.py) on CIFAR-10.

Data: the real CIFAR-10 training split as an image folder (default /tmp/cifar10/train; unpack
/work/shared/datasets/cifar10-train.tar.gz there). A fixed permutation (seed 0) holds out 10,000 images as a
test set that nothing is tuned on; the model trains on the other 40,000.

Budget mode (`--budget-s 480`, the default): the OneCycle-shaped LR (linear warmup, linear decay) is a
function of *elapsed training time*, so the LR reaches 0 exactly when the budget runs out, whatever the machine
load. The clock stops while the held-out test set is evaluated (with flip TTA) every `--eval-every-s` seconds.
Epoch mode (`--epochs N`) uses the recipe's usual step-based schedule, for comparisons across hardware.

Writes bench/results/improved_cnn.csv (one row per evaluation: seed, train_s, epoch, test_images, test_acc;
intermediate points use the first 1,000 test images, the final one all 10,000) and
bench/results/improved_cnn.md (a table plus the environment and `uptime` load before and after).

    .venv/bin/python bench/improved_cnn.py --seeds 0 1 2 --budget-s 480
    .venv/bin/python bench/improved_cnn.py --dry-run        # 20 s on 2,000 images
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from solutions.week3.augmentation import random_crop_flip  # noqa: E402
from solutions.week3.improved_cnn import RecipeConfig, _param_groups, build_resnet_cnn, tta_logits  # noqa: E402
from solutions.week3.regularization import label_smoothing_cross_entropy  # noqa: E402

TEST_SIZE = 10_000
QUICK_TEST = 1_000   # the intermediate points of the curve use the first 1,000 test images; the final one all 10,000
RESULTS = Path(__file__).resolve().parent / "results"


def load_cifar(folder: Path, cache: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """All images (N, 32, 32, 3) uint8 and labels, decoded once and cached as .npz."""
    if cache.exists():
        data = np.load(cache)
        return data["images"], data["labels"], list(data["classes"])
    from PIL import Image

    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    images, labels = [], []
    for index, name in enumerate(classes):
        for path in sorted((folder / name).iterdir()):
            images.append(np.asarray(Image.open(path).convert("RGB")))
            labels.append(index)
    images, labels = np.stack(images), np.asarray(labels, np.int64)
    np.savez(cache, images=images, labels=labels, classes=np.asarray(classes))
    return images, labels, classes


class Batches:
    """In-memory batches of normalised float tensors (B, C, H, W); shuffled each pass when `shuffle`."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, shuffle: bool):
        self.images, self.labels, self.batch_size, self.shuffle = images, labels, batch_size, shuffle

    def __len__(self) -> int:
        return len(self.labels) // self.batch_size if self.shuffle else -(-len(self.labels) // self.batch_size)

    def __iter__(self):
        order = torch.randperm(len(self.labels)) if self.shuffle else torch.arange(len(self.labels))
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            index = order[start:start + self.batch_size]
            yield self.images[index], self.labels[index]


def tensors(images: np.ndarray, labels: np.ndarray, mean: np.ndarray, std: np.ndarray, device: str):
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255)                   # (N, C, H, W)
    x = (x - torch.from_numpy(mean)[:, None, None]) / torch.from_numpy(std)[:, None, None]
    return x.to(device), torch.from_numpy(labels).to(device)


@torch.no_grad()
def test_accuracy(model, batches: Batches, device: str) -> float:
    correct = 0
    with torch.autocast(device, dtype=torch.bfloat16):
        for images, labels in batches:
            correct += (tta_logits(model, images).argmax(1) == labels).sum().item()
    model.train()
    return correct / len(batches.labels)


def one_cycle_factor(progress: float, pct_start: float) -> float:
    """The LR multiplier at `progress` in [0, 1]: linear up to 1 at pct_start, linear down to 0 at 1."""
    if progress < pct_start:
        return 0.04 + 0.96 * progress / pct_start
    return max(0.0, (1 - progress) / (1 - pct_start))


def train_seed(seed: int, train: Batches, test: Batches, config: RecipeConfig, args, device: str) -> list[dict]:
    torch.manual_seed(seed)
    model = build_resnet_cnn(10, (32, 32, 3), widths=config.widths).to(device)
    optimizer = torch.optim.SGD(_param_groups(model, config.weight_decay), lr=config.learning_rate, momentum=0.9,
                                nesterov=True)
    total_steps = args.epochs * len(train) if args.epochs else None
    rows, train_s, cpu_s, next_eval, step, epoch = [], 0.0, 0.0, args.eval_every_s, 0, 0
    quick_test = Batches(test.images[:QUICK_TEST], test.labels[:QUICK_TEST], test.batch_size, False)
    done = False
    while not done:
        for images, labels in train:
            start, cpu_start = time.perf_counter(), time.process_time()
            progress = step / total_steps if total_steps else train_s / args.budget_s
            for group in optimizer.param_groups:
                group["lr"] = config.learning_rate * one_cycle_factor(progress, config.pct_start)
            images = random_crop_flip(images, config.translate)
            with torch.autocast(device, dtype=torch.bfloat16, enabled=config.bf16):
                logits = model(images)
            loss = label_smoothing_cross_entropy(logits.float(), labels, config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if device == "cuda":
                torch.cuda.synchronize()
            train_s += time.perf_counter() - start
            cpu_s += time.process_time() - cpu_start
            step += 1
            done = step >= total_steps if total_steps else train_s >= args.budget_s
            if done or (not total_steps and train_s >= next_eval):
                batches = test if done else quick_test
                rows.append({"seed": seed, "train_s": round(train_s, 1), "cpu_s": round(cpu_s, 1),
                             "epoch": round(step / len(train), 2), "images_seen": step * train.batch_size,
                             "test_images": len(batches.labels), "test_acc": round(test_accuracy(model, batches, device), 4),
                             "loss": round(loss.item(), 3)})
                print(rows[-1], flush=True)
                next_eval += args.eval_every_s
            if done:
                break
        epoch += 1
        if total_steps and not done:
            rows.append({"seed": seed, "train_s": round(train_s, 1), "cpu_s": round(cpu_s, 1), "epoch": epoch,
                         "images_seen": step * train.batch_size, "test_images": len(test.labels),
                         "test_acc": round(test_accuracy(model, test, device), 4), "loss": round(loss.item(), 3)})
            print(rows[-1], flush=True)
    return rows


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def write(rows: list[dict], config: RecipeConfig, args, environment: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stem = args.name
    with open(out / f"{stem}.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    finals = [[r for r in rows if r["seed"] == s][-1] for s in args.seeds]
    accuracies = np.array([r["test_acc"] for r in finals])
    lines = [f"# Improved CNN on CIFAR-10 ({stem})", "",
             f"Held-out test accuracy (10,000 images, flip TTA) after training on 40,000; "
             f"{len(args.seeds)} seed(s): mean {accuracies.mean():.4f}, min {accuracies.min():.4f}, "
             f"max {accuracies.max():.4f}.", "",
             "train s: wall-clock seconds of training (evaluation excluded); CPU s: CPU time the process got in them "
             "(2 cores fully ours would be 2 CPU s per s); img/s: training images per wall-clock second.", "",
             "| seed | train s | CPU s | epochs | img/s | test images | test acc |", "|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['seed']} | {r['train_s']} | {r['cpu_s']} | {r['epoch']} | {r['images_seen'] / r['train_s']:.0f} "
              f"| {r['test_images']} | {r['test_acc']:.4f} |" for r in rows]
    lines += ["", f"config: {config}", f"args: {vars(args)}"] + [f"{k}: {v}" for k, v in environment.items()]
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/cifar10/train"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/cifar10_u8.npz"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget-s", type=float, default=480.0, help="training seconds per seed (budget mode)")
    parser.add_argument("--epochs", type=int, default=0, help="epoch mode instead of a time budget")
    parser.add_argument("--eval-every-s", type=float, default=160.0)
    parser.add_argument("--widths", type=int, nargs=3, default=list(RecipeConfig.widths))
    parser.add_argument("--batch-size", type=int, default=RecipeConfig.batch_size)
    parser.add_argument("--lr", type=float, default=RecipeConfig.learning_rate)
    parser.add_argument("--name", default="improved_cnn")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--dry-run", action="store_true", help="2,000 training images, 20 s, one seed")
    parser.add_argument("--train-limit", type=int, default=0, help="train on the first N of the 40,000 (quick checks)")
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.dry_run:
        args.seeds, args.budget_s, args.eval_every_s, args.name = [0], 20.0, 10.0, "improved_cnn_dry_run"
    config = RecipeConfig(widths=tuple(args.widths), batch_size=args.batch_size, learning_rate=args.lr)
    images, labels, _ = load_cifar(args.data, args.cache)
    order = np.random.default_rng(0).permutation(len(labels))
    test_index, train_index = order[:TEST_SIZE], order[TEST_SIZE:]
    if args.dry_run or args.train_limit:
        train_index = train_index[:args.train_limit or 2000]
    mean = (images[train_index].reshape(-1, 3) / 255).mean(0).astype(np.float32)
    std = (images[train_index].reshape(-1, 3) / 255).std(0).astype(np.float32)
    train = Batches(*tensors(images[train_index], labels[train_index], mean, std, device), config.batch_size, True)
    test = Batches(*tensors(images[test_index], labels[test_index], mean, std, device), 1000, False)
    environment = {"load before": uptime(), "torch": torch.__version__, "threads": torch.get_num_threads(),
                   "device": torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu",
                   "cpus": os.cpu_count()}
    rows = []
    for seed in args.seeds:
        rows += train_seed(seed, train, test, config, args, device)
    environment["load after"] = uptime()
    write(rows, config, args, environment, args.out)
    print((args.out / f"{args.name}.md").read_text())


if __name__ == "__main__":
    main()
