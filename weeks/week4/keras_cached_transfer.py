"""Week 4 · The cached fine-tuning recipe of cached_transfer.py, in Keras.

What you will learn — where Keras does the same thing differently:
- A Functional model can be cut at any tensor: `keras.Model(model.inputs, t)` is the bottom and
  `keras.Model(t, model.outputs)` the top, both sharing the original layers (and their weights). Train the top
  and the full model has learned it too.
- `bottom.predict` runs the frozen part once; the top then trains with `fit` on the cached activations, exactly
  like the PyTorch version (each image cached as it is and mirrored; each epoch picks one of the two).
- The head alone first (a linear probe on the pooled features), then the top blocks: Keras has no parameter
  groups, so the top blocks and the head share one learning rate in the second stage, as in keras_transfer.py.

`fine_tune_keras_cached` follows the compare trainer protocol (the Keras "transfer_lite0" row);
bench/transfer_keras.py runs it on CIFAR-10: 91.06 % held-out in 1021 s at 128 px (1 seed, 6 epochs). Run it: `python -m weeks.week4.keras_cached_transfer --dry-run`
"""
from __future__ import annotations

import argparse
import time

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from shared.backbones import keras_backbones

from .cached_transfer import CachedConfig


def _head(model: keras.Model):
    """The head: the model's last Dense layer (keras_transfer.py's registration imports this module)."""
    return [layer for layer in model.layers if isinstance(layer, layers.Dense)][-1]


def split_keras_backbone(model: keras.Model, top_blocks: int) -> tuple[keras.Model, keras.Model, keras.Model]:
    """(bottom, top, pooled): the Functional model cut at the input of the first layer of the top `top_blocks`
    blocks of `keras_backbones.blocks(model)`; `pooled` is the top up to its global pooling (the features the
    head reads). All share `model`'s layers; the bottom is frozen."""
    blocks = keras_backbones.blocks(model)
    if not 1 <= top_blocks < len(blocks):
        raise ValueError(f"top_blocks must be between 1 and {len(blocks) - 1}, got {top_blocks}")
    cut = blocks[-top_blocks][0].input
    pool = [layer for layer in model.layers if isinstance(layer, layers.GlobalAveragePooling2D)][-1]
    bottom, top = keras.Model(model.inputs, cut, name="bottom"), keras.Model(cut, model.outputs, name="top")
    bottom.trainable = False
    return bottom, top, keras.Model(cut, pool.output, name="pooled")


def cache_keras_activations(bottom: keras.Model, images: np.ndarray, batch_size: int = 250,
                            mirror: bool = True, verbose: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """bottom(images) and bottom(mirrored images) for float images (N, H, W, C), stored as float16 (N, h, w, C').
    verbose=1: Keras's progress bar for each pass."""
    plain = bottom.predict(images, batch_size=batch_size, verbose=verbose).astype(np.float16)
    mirrored = bottom.predict(images[:, :, ::-1], batch_size=batch_size, verbose=verbose).astype(np.float16) \
        if mirror else None
    return plain, mirrored


def fit_keras_head(top: keras.Model, pool: keras.Model, plain: np.ndarray, mirrored, labels: np.ndarray,
                   config: CachedConfig, seed: int = 0) -> None:
    """Stage 1, the linear probe, as the PyTorch twin's `fit_head` does it: the head (the top's last Dense) fit
    alone on the standardised pooled features of the cached activations (and their mirror images), full batch,
    Adam 1e-2 with an L2 penalty for `config.head_steps` steps; then the standardisation is folded into the
    head's kernel and bias, so that the top takes raw activations again."""
    features = pool.predict(plain, batch_size=500, verbose=0)
    targets = labels
    if mirrored is not None:
        features = np.concatenate([features, pool.predict(mirrored, batch_size=500, verbose=0)])
        targets = np.concatenate([labels, labels])
    mean, std = features.mean(0), features.std(0, ddof=1) + 1e-6
    head = _head(top)
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(features.shape[1:])
    # torch's Adam(weight_decay=wd) adds wd * w to the gradient: an L2 penalty of wd / 2 * |w|^2 on the loss.
    probe_layer = keras.layers.Dense(head.units, kernel_regularizer=keras.regularizers.L2(config.head_weight_decay / 2))
    probe = keras.Model(inputs, probe_layer(inputs))
    probe.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    # One epoch of `head_steps` full batches: 300 epochs of one batch each cost 3x as much in Keras's per-epoch work.
    batches = tf.data.Dataset.from_tensors(((features - mean) / std, targets)).repeat(config.head_steps)
    probe.fit(batches, epochs=1, shuffle=False, verbose=0)
    kernel, bias = probe_layer.get_weights()
    head.set_weights([kernel / std[:, None], bias - (mean / std) @ kernel])


def _flip_batches(plain, mirrored, labels, batch_size: int, seed: int):
    """An endless generator of (activations, labels) batches; every pass picks plain or mirrored per image."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(labels))
        flip = rng.random(len(labels)) < 0.5
        for start in range(0, len(labels) - batch_size + 1, batch_size):
            index = order[start:start + batch_size]
            chosen = plain[index] if mirrored is None else np.where(flip[index, None, None, None], mirrored[index],
                                                                     plain[index])
            yield chosen.astype(np.float32), labels[index]


def train_keras_top(top: keras.Model, plain, mirrored, labels, *, epochs: int, config: CachedConfig,
                    val=None, seed: int = 0, callbacks=(), verbose: int = 0) -> keras.callbacks.History:
    """Stage 2: the top blocks (BatchNormalization frozen) and the head, AdamW with warmup then linear decay,
    label smoothing, on the cached activations."""
    trainable = {id(layer) for block in keras_backbones.blocks(top) for layer in block} | {id(_head(top))}
    for layer in top.layers:
        layer.trainable = id(layer) in trainable and not isinstance(layer, layers.BatchNormalization)
    steps_per_epoch = len(labels) // min(config.batch_size, len(labels))
    total = max(2, epochs * steps_per_epoch)
    warmup = max(1, round(config.warmup * total))
    schedule = keras.optimizers.schedules.PolynomialDecay(config.learning_rate * config.backbone_lr_factor,
                                                          total - warmup, end_learning_rate=0.0)
    learning_rate = _WarmupThen(schedule, warmup, config.learning_rate * config.backbone_lr_factor)
    top.compile(optimizer=keras.optimizers.AdamW(learning_rate, weight_decay=config.weight_decay),
                loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=config.label_smoothing),
                metrics=["accuracy"])
    batches = _flip_batches(plain, mirrored, keras.utils.to_categorical(labels, _head(top).units),
                            min(config.batch_size, len(labels)), seed)
    validation = None
    if val is not None:
        validation = (val[0].astype(np.float32), keras.utils.to_categorical(val[2], _head(top).units))
    return top.fit(batches, steps_per_epoch=steps_per_epoch, epochs=epochs, validation_data=validation,
                   callbacks=list(callbacks), shuffle=False, verbose=verbose)  # the generator shuffles (seeded)


class _WarmupThen(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup to `peak` over `warmup` steps, then `after` (a schedule of the remaining steps)."""

    def __init__(self, after, warmup: int, peak: float):
        self.after, self.warmup, self.peak = after, warmup, peak

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        ramp = self.peak * (step + 1) / self.warmup
        return keras.ops.where(step < self.warmup, ramp, self.after(step - self.warmup))

    def get_config(self):
        return {"warmup": self.warmup, "peak": self.peak}


def predict_tta(top: keras.Model, plain, mirrored=None) -> np.ndarray:
    logits = top.predict(plain.astype(np.float32), batch_size=500, verbose=0)
    if mirrored is not None:
        logits = (logits + top.predict(mirrored.astype(np.float32), batch_size=500, verbose=0)) / 2
    return logits


def _gather(dataset) -> tuple[np.ndarray, np.ndarray, int]:
    """(images, labels, batch size) of a dataset of batches: the top trains with the batch size it was given."""
    pairs = [(np.asarray(x), np.asarray(y)) for x, y in dataset]
    return np.concatenate([x for x, _ in pairs]), np.concatenate([y for _, y in pairs]), len(pairs[0][1])


def fine_tune_keras_cached(model: keras.Model, train_ds, val_ds, *, epochs: int, learning_rate: float = 1e-3,
                           seed: int | None = 0, device=None, progress: bool = True,
                           config: CachedConfig | None = None) -> dict:
    """Both stages on cached activations (the compare trainer protocol, `train_ds`/`val_ds` yield (images,
    labels)): one history entry for the linear probe, then `epochs - 1` epochs of the top blocks. Leaves in
    `model` the weights of the best validation epoch."""
    seed = 0 if seed is None else seed
    keras.utils.set_random_seed(seed)
    (train_x, train_y, batch_size), (val_x, val_y, _) = _gather(train_ds), _gather(val_ds)
    config = config or CachedConfig(learning_rate=learning_rate, batch_size=batch_size)
    bottom, top, pool = split_keras_backbone(model, config.top_blocks)
    start = time.perf_counter()
    verbose = 1 if progress else 0   # Keras's own bars: the frozen pass, then each epoch of the top
    plain, mirrored = cache_keras_activations(bottom, train_x, verbose=verbose)
    val = cache_keras_activations(bottom, val_x)
    fit_keras_head(top, pool, plain, mirrored, train_y, config, seed)

    loss_fn = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=config.label_smoothing)

    def scores(views, labels):
        """(loss, accuracy) with flip TTA; the loss is the top's training loss, label smoothing included (Keras's
        own val_loss is too), so that every epoch's train and validation losses are the same function."""
        logits = predict_tta(top, *views)
        loss = loss_fn(keras.ops.one_hot(labels, logits.shape[1]), logits)
        return float(loss), float((logits.argmax(1) == labels).mean())

    # The training set is scored like the validation set, after each epoch, on a fixed sample of its images: the
    # probe's epoch, the later ones and validation are then the same measurement, which the diagnosis compares.
    sample = np.random.default_rng(seed).permutation(len(train_y))[:config.score_images]
    scored = ((plain[sample], mirrored[sample]), train_y[sample])
    (train_loss, train_acc), (val_loss, val_acc) = scores(*scored), scores(val, val_y)
    history = {"train_loss": [train_loss], "train_acc": [train_acc], "val_loss": [val_loss], "val_acc": [val_acc],
               "epoch_time_s": [time.perf_counter() - start], "lr": [learning_rate]}
    best = [val_acc, top.get_weights()]
    if epochs > 1:
        class Track(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                elapsed = time.perf_counter() - self.start
                (train_loss, train_acc), (loss, acc) = scores(*scored), scores(val, val_y)
                history["train_loss"].append(train_loss)
                history["train_acc"].append(train_acc)
                history["val_loss"].append(loss)
                history["val_acc"].append(acc)
                history["epoch_time_s"].append(elapsed)
                history["lr"].append(config.learning_rate * config.backbone_lr_factor)
                if acc > best[0]:
                    best[:] = [acc, top.get_weights()]

        train_keras_top(top, plain, mirrored, train_y, epochs=epochs - 1, config=config, seed=seed,
                        callbacks=[Track()], verbose=verbose)
    top.set_weights(best[1])
    history["best_epoch"] = max(range(len(history["val_acc"])), key=history["val_acc"].__getitem__)
    return history


def main(argv: list[str] | None = None) -> None:
    from shared.data import load_dataset

    from .keras_transfer import build_keras_transfer

    parser = argparse.ArgumentParser(description="Cached fine-tuning in Keras: the frozen blocks run once.")
    parser.add_argument("--dataset", default="shapes")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    ds = load_dataset(args.dataset, size=300 if args.dry_run else None, image_size=args.image_size)
    model, preprocessing = build_keras_transfer(ds.num_classes, args.image_size)
    mean, std = np.array(preprocessing.mean), np.array(preprocessing.std)
    prepare = lambda split: ((split.images / 255.0 - mean) / std).astype(np.float32)  # noqa: E731
    config = CachedConfig()
    bottom, top, pool = split_keras_backbone(model, config.top_blocks)
    start = time.perf_counter()
    plain, mirrored = cache_keras_activations(bottom, prepare(ds.train))
    val = (*cache_keras_activations(bottom, prepare(ds.val)), ds.val.labels)
    fit_keras_head(top, pool, plain, mirrored, ds.train.labels, config)
    probe = (predict_tta(top, *val[:2]).argmax(1) == ds.val.labels).mean()
    train_keras_top(top, plain, mirrored, ds.train.labels, epochs=args.epochs, config=config)
    tuned = (predict_tta(top, *val[:2]).argmax(1) == ds.val.labels).mean()
    print(f"probe val accuracy {probe:.3f}; after {args.epochs} epochs of the top {tuned:.3f}; "
          f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
