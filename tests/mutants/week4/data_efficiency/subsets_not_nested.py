# Mutant of solutions/week4/data_efficiency.py: each per_class count draws a fresh permutation.
# expect: nested|part of
"""Week 4 · Exercise 5: Fine-tuned against from scratch — accuracy as a function of training images per class.

What you will learn
- Where transfer learning pays: with 10 images per class a CNN trained from scratch barely beats chance,
  while a linear head on pretrained features already works. With enough data the gap closes.
- How to run a fair data-efficiency experiment: the same validation and test images for every point,
  class-balanced training subsets drawn with a seed, and each subset *nested* in the larger ones.
- Why feature extraction is cheap: the frozen backbone's features are computed once per image, then a
  linear head trains on them in seconds.

Run it: `python -m solutions.week4.data_efficiency --dataset folder:/tmp/cifar10 --per-class 10 50 250 0`
(0 means every training image), or `--dry-run` for a quick check. It saves data_efficiency.png.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import torch

from shared.data import Split
from shared.data.torch_data import make_loader
from solutions.week2.cnn import CNN
from solutions.week2.training import evaluate, fit

from .feature_extraction import KeepBatchNormFrozen, extract_features, fit_linear_head
from .fine_tuning import FineTuneConfig, fine_tuning_optimizer, unfreeze_top_blocks
from .heads import build_transfer_model, find_head

PER_CLASS_COUNTS = (10, 50, 250, None)  # None: every training image


@dataclass
class ExperimentConfig:
    image_size: int = 64          # input side of the pretrained model (the CNN sees the dataset's own size)
    cnn_epochs: int = 15          # the CNN from scratch: Adam 1e-3, best validation epoch kept
    head_steps: int = 200         # full-batch Adam steps of the linear head on cached features
    fine_tune_epochs: int = 0     # then fine-tune the top blocks for this many epochs (0: feature extraction only)
    batch_size: int = 32
    seed: int = 0


def sample_per_class(split: Split, per_class: int | None, seed: int = 0) -> Split:
    """A class-balanced subset of `split`: `per_class` images of every class, drawn at random with `seed`.

    per_class=None returns `split` itself. Subsets are nested: with the same seed, the 10-per-class subset is
    part of the 50-per-class one (draw one seeded permutation, then keep the first `per_class` of each class).
    Raise ValueError (naming the class) if a class has fewer than `per_class` images, or per_class < 1.
    Use `split.subset(indices)`; keep the images in the order of their indices in `split`.
    """
    if per_class is None:
        return split
    if per_class < 1:
        raise ValueError(f"per_class must be at least 1 (or None for every image), got {per_class}")
    order = np.random.default_rng(seed + per_class).permutation(len(split))
    chosen = []
    for label in np.unique(split.labels):
        of_class = order[split.labels[order] == label]
        if len(of_class) < per_class:
            raise ValueError(f"class {label} has only {len(of_class)} images, fewer than per_class={per_class}")
        chosen.append(of_class[:per_class])
    return split.subset(np.sort(np.concatenate(chosen)))


def _loader(split: Split, dataset, config: ExperimentConfig, train: bool, preprocessing=None):
    return make_loader(split, batch_size=config.batch_size, train=train, mean=dataset.mean, std=dataset.std,
                       preprocessing=preprocessing, seed=config.seed)


def scratch_accuracy(train: Split, dataset, config: ExperimentConfig) -> float:
    """Test accuracy of week 2's CNN trained from scratch on `train` (validated on dataset.val)."""
    torch.manual_seed(config.seed)
    model = CNN(dataset.num_classes, dataset.image_shape)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    fit(model, _loader(train, dataset, config, True), _loader(dataset.val, dataset, config, False),
        epochs=config.cnn_epochs, optimizer=optimizer, seed=config.seed, progress=False)
    return evaluate(model, _loader(dataset.test, dataset, config, False))[1]


def transfer_accuracy(train: Split, dataset, config: ExperimentConfig) -> float:
    """Test accuracy of the pretrained backbone: a linear head on cached features, then optional fine-tuning."""
    torch.manual_seed(config.seed)
    model, preprocessing = build_transfer_model(dataset.num_classes, image_size=config.image_size)
    loaders = {name: _loader(split, dataset, config, name == "train", preprocessing)
               for name, split in (("train", train), ("val", dataset.val), ("test", dataset.test))}
    features, labels = extract_features(model, _loader(train, dataset, config, False, preprocessing))
    head = fit_linear_head(features, labels, dataset.num_classes, steps=config.head_steps, seed=config.seed)
    find_head(model)[1].load_state_dict(head.state_dict())
    if config.fine_tune_epochs > 0:
        settings = FineTuneConfig()
        unfreeze_top_blocks(model, settings.unfreeze_blocks)
        optimizer = fine_tuning_optimizer(model, 1e-3, settings.backbone_lr_factor, settings.weight_decay)
        fit(KeepBatchNormFrozen(model), loaders["train"], loaders["val"], epochs=config.fine_tune_epochs,
            optimizer=optimizer, seed=config.seed, progress=False)
    return evaluate(model, loaders["test"])[1]


def run_experiment(dataset, per_class_counts=PER_CLASS_COUNTS, config: ExperimentConfig = ExperimentConfig()) -> dict:
    """{"per_class": [...], "cnn": [...], "transfer": [...], "seconds": {...}} over the counts (None: all)."""
    results = {"per_class": [], "cnn": [], "transfer": [], "seconds": {"cnn": [], "transfer": []},
               "image_size": config.image_size, "dataset": dataset.name}
    for count in per_class_counts:
        train = sample_per_class(dataset.train, count, config.seed)
        results["per_class"].append(len(train) // dataset.num_classes if count is None else count)
        for name, measure in (("cnn", scratch_accuracy), ("transfer", transfer_accuracy)):
            start = time.perf_counter()
            results[name].append(measure(train, dataset, config))
            results["seconds"][name].append(time.perf_counter() - start)
        print(f"{results['per_class'][-1]:>6} per class: CNN {results['cnn'][-1]:.3f}, "
              f"transfer {results['transfer'][-1]:.3f}", flush=True)
    return results


def plot_data_efficiency(results: dict, path=None):
    """Accuracy against training images per class (log scale), one line per model."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for name, label in (("cnn", "week-2 CNN, from scratch"), ("transfer", "pretrained Lite0 (transfer)")):
        axes.plot(results["per_class"], results[name], marker="o", label=label)
    axes.set_xscale("log")
    axes.set_xlabel("training images per class")
    axes.set_ylabel("test accuracy")
    axes.set_title(f"Data efficiency on {results.get('dataset', '')}")
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    if path is not None:
        from shared.plots import save_figure

        save_figure(figure, path, dpi=120)  # atomic: a killed run never leaves half an image
    return figure


def main(argv: list[str] | None = None) -> None:
    from shared.data import load_dataset

    parser = argparse.ArgumentParser(description="Accuracy against training images per class.")
    parser.add_argument("--dataset", default="shapes")
    parser.add_argument("--size", type=int, default=None, help="cap on the images loaded (class-balanced)")
    parser.add_argument("--per-class", type=int, nargs="+", default=[10, 50, 250, 0], help="0: every image")
    parser.add_argument("--image-size", type=int, default=ExperimentConfig.image_size)
    parser.add_argument("--epochs", type=int, default=ExperimentConfig.cnn_epochs, help="CNN epochs")
    parser.add_argument("--fine-tune-epochs", type=int, default=0)
    parser.add_argument("--out", default="data_efficiency.png")
    parser.add_argument("--dry-run", action="store_true", help="shapes, 10 per class, 2 epochs")
    args = parser.parse_args(argv)
    if args.dry_run:
        args.size, args.per_class, args.epochs = args.size or 600, [10], min(args.epochs, 2)
    ds = load_dataset(args.dataset, **({"size": args.size} if args.size else {}))
    config = ExperimentConfig(image_size=args.image_size, cnn_epochs=args.epochs,
                              fine_tune_epochs=args.fine_tune_epochs)
    results = run_experiment(ds, [count or None for count in args.per_class], config)
    plot_data_efficiency(results, args.out)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
