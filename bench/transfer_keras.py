"""The Keras twin of bench/transfer.py: the same cached recipe (solutions/week4/keras_cached_transfer.py), the same
held-out split, sizes and epochs, so its number stands beside the PyTorch one. Float32 (Keras's bf16 policy gains
little on this CPU: see bench/frameworks.py).

    python -m bench.transfer_keras --size 128 --epochs 6
"""
from __future__ import annotations

import argparse
import os
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import shared  # noqa: E402,F401 - torch before TensorFlow
from bench.common import DEFAULT_DATA, environment, load_cifar10, save, uptime  # noqa: E402

QUICK_TEST = 2_000


def upsample(images: np.ndarray, size: int, mean, std, batch: int = 500) -> np.ndarray:
    import tensorflow as tf

    out = np.empty((len(images), size, size, 3), np.float32)
    for start in range(0, len(images), batch):
        x = tf.image.resize(images[start:start + batch].astype(np.float32) / 255, (size, size), method="bilinear")
        out[start:start + batch] = (x.numpy() - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return out


def cache_upsampled(bottom, images: np.ndarray, size: int, mean, std, chunk: int = 4000):
    """The frozen bottom's activations (plain, mirrored) of uint8 images upsampled to `size`, a chunk at a time:
    40,000 images at 128 px are 7.9 GB as float32, so they are never all upsampled at once."""
    from solutions.week4.keras_cached_transfer import cache_keras_activations

    parts = [cache_keras_activations(bottom, upsample(images[start:start + chunk], size, mean, std))
             for start in range(0, len(images), chunk)]
    return np.concatenate([plain for plain, _ in parts]), np.concatenate([mirrored for _, mirrored in parts])


def run(data_dir: Path = DEFAULT_DATA, size: int = 128, epochs: int = 6, seed: int = 0,
        name: str = "transfer_keras", limit: int | None = None, test_limit: int | None = None) -> dict:
    import keras

    from solutions.week4.cached_transfer import CachedConfig
    from solutions.week4.keras_cached_transfer import (fit_keras_head, predict_tta, split_keras_backbone,
                                                       train_keras_top)
    from solutions.week4.keras_transfer import build_keras_transfer

    load_before = uptime()
    held = load_cifar10(data_dir, limit)
    test_images, test_labels = held.test_images[:test_limit], held.test_labels[:test_limit]
    keras.utils.set_random_seed(seed)
    config = CachedConfig()
    model, preprocessing = build_keras_transfer(10, size)
    bottom, top, pool = split_keras_backbone(model, config.top_blocks)
    start = time.perf_counter()
    plain, mirrored = cache_upsampled(bottom, held.train_images, size, preprocessing.mean, preprocessing.std)
    cache_s = time.perf_counter() - start
    test = cache_upsampled(bottom, test_images, size, preprocessing.mean, preprocessing.std)
    start = time.perf_counter()
    fit_keras_head(top, pool, plain, mirrored, held.train_labels, config, seed)
    probe_s = time.perf_counter() - start
    probe_acc = float((predict_tta(top, *test).argmax(1) == test_labels).mean())
    print(f"keras {size} px: cache {cache_s:.0f} s, probe {probe_s:.0f} s, linear probe held-out {probe_acc:.4f}",
          flush=True)
    curve = [{"epoch": 0, "train_s": round(cache_s + probe_s, 2), "test_acc": probe_acc, "stage": "probe"}]

    class Curve(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            elapsed = curve[-1]["train_s"] + time.perf_counter() - self.start
            quick = tuple(t[:QUICK_TEST] for t in test)
            acc = float((predict_tta(top, *quick).argmax(1) == test_labels[:QUICK_TEST]).mean())
            curve.append({"epoch": epoch + 1, "train_s": round(elapsed, 2), "test_acc": acc,
                          "test_images": QUICK_TEST})
            print(f"  top epoch {epoch + 1}: {elapsed:.0f} s in total, held-out (2,000, flip TTA) {acc:.4f}",
                  flush=True)

    train_keras_top(top, plain, mirrored, held.train_labels, epochs=epochs, config=config, seed=seed,
                    callbacks=[Curve()])
    total = curve[-1]["train_s"]
    final = float((predict_tta(top, *test).argmax(1) == test_labels).mean())
    curve.append({"epoch": epochs, "train_s": total, "test_acc": final, "final": True})
    print(f"keras: {total:.0f} s in total, held-out {final:.4f} (probe {probe_acc:.4f})", flush=True)
    result = {"seed": seed, "size": size, "epochs": epochs, "cache_s": cache_s, "probe_s": probe_s,
              "top_s": total - cache_s - probe_s, "train_s": total, "probe_acc": probe_acc, "test_acc": final,
              "curve": curve}
    payload = {"recipe": "week 4 Lite0 in Keras, cached fine-tuning (solutions/week4/keras_cached_transfer.py)",
               "size": size, "epochs": epochs, "config": asdict(config), "seeds": [seed], "runs": [result],
               "test_acc_mean": final,
               "probe_acc_mean": probe_acc, "train_s_mean": total, "train_images": len(held.train_labels),
               "test_images": len(test_labels), "load_before": load_before, "load_after": uptime(),
               "environment": environment()}
    save(name, payload)
    return payload


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--dry-run", action="store_true", help="1,000 training and 500 test images, 64 px, 1 epoch")
    args = parser.parse_args(argv)
    if args.dry_run:
        run(args.data, 64, 1, name="transfer_keras_dry_run", limit=1000, test_limit=500)
    else:
        run(args.data, args.size, args.epochs)


if __name__ == "__main__":
    main()
