"""Week 2 · Runner (no exercise to fill in): train this week's models from the command line, in either framework.

Run it:
    python -m weeks.week2.run --model cnn --framework torch --epochs 5
    python -m weeks.week2.run --model cnn --framework keras --dataset folder:/tmp/cifar10 --epochs 5
    python -m weeks.week2.run --dry-run          # a few batches of one epoch: checks that everything runs

It wires the week's pieces together (data.py, cnn.py, lstm.py, training.py, keras_cnn.py) and prints what the
run reached: parameters, best validation accuracy, test accuracy, seconds per epoch, and the environment.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time
from dataclasses import dataclass

import numpy as np

DRY_RUN_EXAMPLES = 64   # per split: enough for two batches of 32
DRY_RUN_BATCH_SIZE = 32


@dataclass
class RunConfig:
    model: str = "cnn"            # "cnn" or "lstm"
    framework: str = "torch"      # "torch" or "keras"
    dataset: str = "shapes"       # a name or "folder:PATH" for shared.data.load_dataset
    size: int | None = None       # examples to generate for synthetic datasets (None: the loader's default)
    epochs: int = 5
    batch_size: int = 64
    learning_rate: float = 1e-3   # Adam
    seed: int = 0
    dry_run: bool = False         # a few batches of one epoch: checks that everything runs


def parse_args(argv=None, model_name: str = "cnn", framework: str = "torch") -> RunConfig:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", choices=["cnn", "lstm"], default=model_name)
    parser.add_argument("--framework", choices=["torch", "keras"], default=framework)
    parser.add_argument("--dataset", default=RunConfig.dataset, help="shapes, cifar10, fashion-mnist or folder:PATH")
    parser.add_argument("--size", type=int, default=None, help="examples to generate (synthetic datasets only)")
    parser.add_argument("--epochs", type=int, default=RunConfig.epochs)
    parser.add_argument("--batch-size", type=int, default=RunConfig.batch_size)
    parser.add_argument("--lr", type=float, default=RunConfig.learning_rate, dest="learning_rate")
    parser.add_argument("--seed", type=int, default=RunConfig.seed)
    parser.add_argument("--dry-run", action="store_true", help="one epoch of a few batches")
    return RunConfig(**vars(parser.parse_args(argv)))


def _shrink(ds, examples: int):
    """A copy of `ds` whose splits keep their first `examples` examples (for --dry-run)."""
    first = np.arange(examples)
    return dataclasses.replace(ds, train=ds.train.subset(first[:len(ds.train)]),
                               val=ds.val.subset(first[:len(ds.val)]), test=ds.test.subset(first[:len(ds.test)]))


def load(config: RunConfig):
    from shared.data import load_dataset

    options = {"seed": config.seed}
    if config.size is not None:
        options["size"] = config.size
    elif config.dry_run and config.dataset == "shapes":
        options["size"] = 3 * DRY_RUN_EXAMPLES  # generate no more than the dry run uses
    ds = load_dataset(config.dataset, **options)
    return _shrink(ds, DRY_RUN_EXAMPLES) if config.dry_run else ds


def run_torch(config: RunConfig, ds) -> dict:
    import torch

    from .cnn import build_cnn, count_parameters
    from .data import make_dataloaders
    from .lstm import build_lstm
    from .training import default_device, evaluate, fit, set_seed

    set_seed(config.seed)
    builder = {"cnn": build_cnn, "lstm": build_lstm}[config.model]
    model = builder(num_classes=ds.num_classes, input_shape=ds.image_shape)
    loaders = make_dataloaders(ds, batch_size=config.batch_size, seed=config.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    device = default_device()
    history = fit(model, loaders.train, loaders.val, epochs=config.epochs, optimizer=optimizer, device=device,
                  seed=config.seed)
    test_acc = evaluate(model, loaders.test, device=device)[1] if loaders.test is not None else float("nan")
    total, trainable = count_parameters(model)
    env = f"torch {torch.__version__}, {device}, {torch.get_num_threads()} threads"
    return dict(history=history, test_acc=test_acc, params=total, trainable=trainable, env=env)


def run_keras(config: RunConfig, ds) -> dict:
    import keras

    from shared.data.keras_data import make_dataset

    from .keras_cnn import build_keras_cnn, build_keras_lstm, count_keras_parameters, fit_keras

    keras.utils.set_random_seed(config.seed)
    builder = {"cnn": build_keras_cnn, "lstm": build_keras_lstm}[config.model]
    model = builder(num_classes=ds.num_classes, input_shape=ds.image_shape)
    # Normalised with the training split's statistics, like the PyTorch loaders (data.make_dataloaders).
    from .data import normalisation_stats

    mean, std = normalisation_stats(ds.train.images)
    std = np.maximum(std, 1e-6)

    def dataset(split, train):
        return make_dataset(split, batch_size=config.batch_size, train=train, mean=mean, std=std)

    history = fit_keras(model, dataset(ds.train, True), dataset(ds.val, False), epochs=config.epochs,
                        learning_rate=config.learning_rate, verbose=2 if config.dry_run else "auto")
    test = getattr(ds, "test", None)
    test_acc = float(model.evaluate(dataset(test, False), verbose=0)[1]) if test is not None else float("nan")
    total, trainable = count_keras_parameters(model)
    import tensorflow as tf

    env = f"keras {keras.__version__} on tensorflow {tf.__version__}, {len(tf.config.list_physical_devices('GPU'))} GPU"
    return dict(history=history, test_acc=test_acc, params=total, trainable=trainable, env=env)


def report(config: RunConfig, ds, result: dict) -> None:
    history = result["history"]
    best = history["best_epoch"]
    times = history["epoch_time_s"]
    print(f"\n{config.framework} {config.model} on {ds.name} {tuple(ds.image_shape)}: "
          f"{len(ds.train.labels)} train / {len(ds.val.labels)} val images, {config.epochs} epoch(s), "
          f"batch {config.batch_size}, Adam lr {config.learning_rate:g}, seed {config.seed}")
    print(f"  parameters: {result['params']:,} total, {result['trainable']:,} trainable")
    print(f"  best val acc {history['val_acc'][best]:.4f} (epoch {best + 1}); "
          f"test acc {result['test_acc']:.4f} with the best weights")
    print(f"  epoch time: first {times[0]:.1f} s, median {float(np.median(times)):.1f} s")
    print(f"  environment: {result['env']}; {platform.machine()} with {os.cpu_count()} CPU cores; "
          f"load average {os.getloadavg()[0]:.1f}")


def main(argv=None, model_name: str = "cnn", framework: str = "torch") -> dict:
    config = parse_args(argv, model_name, framework)
    if config.dry_run:
        config.epochs, config.batch_size = 1, DRY_RUN_BATCH_SIZE
    start = time.perf_counter()
    ds = load(config)
    result = (run_keras if config.framework == "keras" else run_torch)(config, ds)
    report(config, ds, result)
    print(f"  total wall time {time.perf_counter() - start:.0f} s")
    return result


if __name__ == "__main__":
    main()
