"""Week 3 · Exercise 12: Data parallelism in Keras — tf.distribute.MirroredStrategy on two logical CPUs.

What you will learn — the Keras twin of distributed.py:
- `tf.distribute.MirroredStrategy` is data parallelism inside one process: it keeps a copy (replica) of every
  variable on each of its devices, splits every batch across them, sums the replicas' gradients (an all-reduce;
  Keras scales each replica's loss by 1 / replicas, so the sum is the mean over the whole batch) and applies the
  same update everywhere. PyTorch's DDP does the same across processes instead of devices.
- Variables must be created inside `strategy.scope()`: build *and* compile the model there, so that its weights
  and the optimizer's slots are MirroredVariables. `fit` then splits the batches itself (no sampler to write).
- The batch you give `fit` is the *global* batch: per-replica batch x `strategy.num_replicas_in_sync`. (In
  PyTorch each rank's DataLoader gets the per-rank batch.) Scale the learning rate with it, as in distributed.py.
- A CPU is one physical device to TensorFlow. `tf.config.set_logical_device_configuration` splits it into two
  logical CPUs, so the strategy really runs two replicas — but only before TensorFlow initialises its devices,
  that is, before the first tensor or model is made in the process; afterwards it raises RuntimeError. That is
  why the autograder runs this exercise in a fresh process of its own.
- Across machines the counterpart is `tf.distribute.MultiWorkerMirroredStrategy`, each worker told its place by
  the TF_CONFIG environment variable (as torchrun tells each rank with RANK and WORLD_SIZE).

Run it: `python -m solutions.week3.keras_distributed --dry-run` (two replicas on this CPU).
Measured (2-core CPU shared with other jobs at load average ~9, TensorFlow 2.21 / Keras 3.15): the default run,
week 2's Keras CNN (widths 16, 32) for 6 epochs on 4,000 16x16 `shapes` images, global batch 64 on 2 replicas,
SGD 0.02, reaches 0.362 validation accuracy in 34 s including start-up (distributed.py's PyTorch twin: 0.374).
"""
from __future__ import annotations

import argparse
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

MOMENTUM = 0.9


def split_cpu(count: int = 2) -> list[str]:
    """Split the first physical CPU into `count` logical devices; return the logical CPUs' names.

    `tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)`, then
    `tf.config.list_logical_devices("CPU")`. Call it first thing in the process: once TensorFlow has initialised
    its devices it raises RuntimeError. Example: `split_cpu(2) == ["/device:CPU:0", "/device:CPU:1"]`.
    """
    ### BEGIN SOLUTION
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
    return [device.name for device in tf.config.list_logical_devices("CPU")]
    ### END SOLUTION


def make_strategy(devices: list[str]) -> tf.distribute.MirroredStrategy:
    """A MirroredStrategy with one replica on each of `devices`."""
    ### BEGIN SOLUTION
    return tf.distribute.MirroredStrategy(devices)
    ### END SOLUTION


def global_batch_size(per_replica_batch: int, strategy: tf.distribute.Strategy) -> int:
    """The batch `fit` must be given so that each replica gets `per_replica_batch` examples."""
    ### BEGIN SOLUTION
    return per_replica_batch * strategy.num_replicas_in_sync
    ### END SOLUTION


def build_and_compile(strategy: tf.distribute.Strategy, build_model: Callable[[], keras.Model],
                      learning_rate: float) -> keras.Model:
    """Inside `strategy.scope()`: `model = build_model()`, then compile it with SGD(learning_rate, momentum
    MOMENTUM), `SparseCategoricalCrossentropy(from_logits=True)` and the "accuracy" metric. Returns the model."""
    ### BEGIN SOLUTION
    with strategy.scope():  # every variable made in here is mirrored on each replica's device
        model = build_model()
        model.compile(optimizer=keras.optimizers.SGD(learning_rate, momentum=MOMENTUM),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model
    ### END SOLUTION


def fit_distributed(model: keras.Model, strategy: tf.distribute.Strategy, images: np.ndarray, labels: np.ndarray, *,
                    per_replica_batch: int, epochs: int, validation_data=None, shuffle: bool = True) -> dict:
    """`model.fit` with the global batch for `per_replica_batch` examples per replica; returns `History.history`.

    `images` (N, H, W, C) float32, `labels` (N,) integers. `fit` itself splits each global batch across the replicas.
    """
    ### BEGIN SOLUTION
    history = model.fit(images, labels, batch_size=global_batch_size(per_replica_batch, strategy), epochs=epochs,
                        validation_data=validation_data, shuffle=shuffle, verbose=0)
    return history.history
    ### END SOLUTION


def main(argv: list[str] | None = None) -> None:
    from shared.data import load_dataset
    from solutions.week2.keras_cnn import build_keras_cnn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--per-replica-batch", type=int, default=32)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--dry-run", action="store_true", help="1 epoch on 256 images, to check that it runs")
    args = parser.parse_args(argv)
    devices = split_cpu(args.replicas)  # first, before anything makes a tensor
    strategy = make_strategy(devices)
    epochs, size = (1, 256) if args.dry_run else (args.epochs, 5000)
    data = load_dataset("shapes", size=size, image_size=16, seed=0, progress=False)

    def scaled(split):  # uint8 (N, H, W, C) -> float32, normalised with the training statistics
        return ((split.images / 255.0 - data.mean) / data.std).astype("float32")

    batch = global_batch_size(args.per_replica_batch, strategy)
    learning_rate = 0.02 * batch / 64  # 0.02 at batch 64, scaled linearly (as in distributed.py)
    print(f"{strategy.num_replicas_in_sync} replicas on {devices}: {args.per_replica_batch} images each = global "
          f"batch {batch}; learning rate {learning_rate:.4g}")
    model = build_and_compile(strategy, lambda: build_keras_cnn(len(data.class_names), (16, 16, 3), widths=(16, 32),
                                                                hidden_units=64), learning_rate)
    history = fit_distributed(model, strategy, scaled(data.train), data.train.labels, epochs=epochs,
                              per_replica_batch=args.per_replica_batch,
                              validation_data=(scaled(data.val), data.val.labels))
    print(f"final val accuracy {history['val_accuracy'][-1]:.3f} after {epochs} epoch(s)")


if __name__ == "__main__":
    main()
