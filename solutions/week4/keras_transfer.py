"""Week 4 · Exercise 4: The same two stages in Keras — `trainable`, BatchNorm and recompiling.

What you will learn
- Keras freezes with one switch: `layer.trainable = False` takes the layer's weights out of
  `model.trainable_weights`. For BatchNormalization (Keras 3) it does more: the layer then runs in inference
  mode, normalising with its moving statistics and never updating them. PyTorch needs two switches
  (`requires_grad` and `eval()`); Keras ties them together.
- `compile()` freezes the *list of trained weights*: change `trainable` after compiling and `fit` keeps
  training the old list. Forget to recompile after unfreezing and fine-tuning silently trains nothing new —
  the loss still goes down (the head still learns), so nothing looks wrong.
- Keras has no parameter groups: the fine-tuning stage recompiles the whole model with one low learning rate
  (the Keras transfer-learning guide's recipe).

Run it: `python -m solutions.week4.keras_transfer --epochs 2 --dry-run`
"""
from __future__ import annotations

import argparse
import dataclasses

import keras
from keras import layers

from shared.backbones import keras_backbones, preprocessing_for
from shared.data import Preprocessing
from shared.history import best_epoch, from_keras
from shared.registry import register_model
from solutions.week2.keras_cnn import EpochTimer

from .cached_transfer import recipe_statement
from .keras_cached_transfer import fine_tune_keras_cached

DEFAULT_BACKBONE = "efficientnet_lite0"
FINE_TUNE_LR_FACTOR = 0.1   # the whole model, fine-tuning stage: 0.1 x the head's learning rate
UNFREEZE_BLOCKS = 3         # as the PyTorch version: the top 3 of keras_backbones.blocks(model)
TRANSFER_IMAGE_SIZE = 64


def compile_transfer(model: keras.Model, learning_rate: float) -> keras.Model:
    """Adam, sparse categorical cross-entropy on logits, accuracy: the compile of both stages."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def replace_keras_head(model: keras.Model, num_classes: int) -> keras.Model:
    """A new keras.Model that shares `model`'s layers from its input up to its last GlobalAveragePooling2D
    layer, then a fresh `layers.Dense(num_classes)` (logits, no activation). The ImageNet Dense is dropped.

    Functional models can be cut anywhere: `keras.Model(model.inputs, some_layer.output)` reuses the layers
    (and their pretrained weights) up to `some_layer`. Raise ValueError if there is no such pooling layer.
    """
    ### BEGIN SOLUTION
    pools = [layer for layer in model.layers if isinstance(layer, layers.GlobalAveragePooling2D)]
    if not pools:
        raise ValueError(f"{model.name} has no GlobalAveragePooling2D layer to put a new head on")
    features = pools[-1].output                                   # (B, feature_dim)
    logits = layers.Dense(num_classes, name="new_head")(features)  # (B, num_classes)
    return keras.Model(model.inputs, logits, name=f"{model.name}_transfer")
    ### END SOLUTION


def build_keras_transfer(num_classes: int, image_size: int = 224, backbone: str = DEFAULT_BACKBONE,
                         pretrained: bool = True) -> tuple[keras.Model, Preprocessing]:
    """(model, preprocessing): `keras_backbones.create_keras_backbone(backbone, input_size=image_size, ...)`
    with its head replaced by `replace_keras_head`, and the backbone's own Preprocessing (size image_size).
    The model maps prepared images (B, image_size, image_size, 3) to logits (B, num_classes).
    """
    ### BEGIN SOLUTION
    loaded = keras_backbones.create_keras_backbone(backbone, input_size=image_size, pretrained=pretrained)
    model = replace_keras_head(loaded.model, num_classes)
    return model, dataclasses.replace(loaded.preprocessing, size=image_size)
    ### END SOLUTION


def _head(model: keras.Model):
    return [layer for layer in model.layers if isinstance(layer, layers.Dense)][-1]


def freeze_keras_backbone(model: keras.Model, learning_rate: float = 1e-3) -> keras.Model:
    """Stage 1: only the head (the last Dense layer) trainable; every other layer `trainable = False`.
    Then compile with `compile_transfer(model, learning_rate)`, so that `model.fit` trains the head. Return it.
    """
    ### BEGIN SOLUTION
    head = _head(model)
    for layer in model.layers:
        layer.trainable = layer is head
    return compile_transfer(model, learning_rate)
    ### END SOLUTION


def unfreeze_keras_top_blocks(model: keras.Model, num_blocks: int, learning_rate: float) -> keras.Model:
    """Stage 2: trainable are the head and every layer of the top `num_blocks` blocks of
    `keras_backbones.blocks(model)` except the BatchNormalization layers (which stay frozen, in inference
    mode); all other layers stay frozen. Leave the model ready for `model.fit` at `learning_rate`. Return it.
    """
    ### BEGIN SOLUTION
    blocks = keras_backbones.blocks(model)
    if not 0 <= num_blocks <= len(blocks):
        raise ValueError(f"num_blocks must be between 0 and {len(blocks)} (the model's blocks), got {num_blocks}")
    top = {id(layer) for block in blocks[len(blocks) - num_blocks:] for layer in block}
    head = _head(model)
    for layer in model.layers:
        layer.trainable = layer is head or (id(layer) in top and not isinstance(layer, layers.BatchNormalization))
    return compile_transfer(model, learning_rate)  # compile() fixes the trained weights: recompile after changes
    ### END SOLUTION


def fit_compiled(model: keras.Model, train_ds, val_ds, *, epochs: int, verbose="auto") -> dict:
    """`model.fit` as compiled (no recompiling), keeping the best validation epoch's weights."""
    timer = EpochTimer()
    best = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=epochs,
                                         restore_best_weights=True)
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=[timer, best],
                        shuffle=False, verbose=verbose)
    return from_keras(history, epoch_times=timer.times, learning_rates=timer.learning_rates)


def fine_tune_keras(model: keras.Model, train_ds, val_ds, *, epochs: int, learning_rate: float = 1e-3,
                    seed: int | None = 0, device=None, progress: bool = True) -> dict:
    """Both stages in Keras (the compare trainer protocol): head only, then the top blocks at a lower rate."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    verbose = 1 if progress else 0
    head_epochs = max(1, epochs // 2)
    freeze_keras_backbone(model, learning_rate)
    history = fit_compiled(model, train_ds, val_ds, epochs=head_epochs, verbose=verbose)
    if epochs == head_epochs:
        return history
    after_head = model.get_weights()
    unfreeze_keras_top_blocks(model, UNFREEZE_BLOCKS, learning_rate * FINE_TUNE_LR_FACTOR)
    tuned = fit_compiled(model, train_ds, val_ds, epochs=epochs - head_epochs, verbose=verbose)
    if max(history["val_acc"]) >= max(tuned["val_acc"]):
        model.set_weights(after_head)
    merged = {key: history[key] + tuned[key] for key in history if isinstance(history[key], list)}
    merged["best_epoch"] = best_epoch(merged["val_acc"])
    return merged


def _transfer(backbone: str, num_classes: int, input_shape, pretrained: bool) -> keras.Model:
    return build_keras_transfer(num_classes, input_shape[0], backbone, pretrained)[0]


# The Keras twins of fine_tuning.py's registry entries (keras.applications backbones download their weights once).
COMPARE_EPOCHS = 2  # in `workbook compare`: one epoch for the head, one to fine-tune (as the PyTorch rows)
RECIPE = dict(trainer=fine_tune_keras, recipe=dict(
    optimizer=f"Adam in both stages; fine-tuning at {FINE_TUNE_LR_FACTOR:g}x the rate, head and blocks alike",
    learning_rate=1e-3, schedule=f"constant; the head alone for epochs // 2 epochs (at least one), then the top "
                                 f"{UNFREEZE_BLOCKS} blocks too",
    augmentation="none", weight_decay=0.0, label_smoothing=0.0, epochs=COMPARE_EPOCHS, batch_size=32,
    other="BatchNorm frozen (statistics and parameters), ImageNet weights"))
CACHED_RECIPE = dict(recipe=recipe_statement(COMPARE_EPOCHS, "activations cached in float16, float32 compute"))
TRANSFER_SHAPE = (TRANSFER_IMAGE_SIZE, TRANSFER_IMAGE_SIZE, 3)


@register_model("transfer_lite0", framework="keras", trainer=fine_tune_keras_cached, **CACHED_RECIPE, offline=True,
                preprocessing=preprocessing_for("efficientnet_lite0", "keras", TRANSFER_IMAGE_SIZE),
                gradcam_layer=keras_backbones.GRADCAM_LAYERS["efficientnet_lite0"],
                description="EfficientNet-Lite0 (ImageNet, ported): frozen blocks cached once, head, then top 3 blocks")
def build_keras_transfer_lite0(num_classes: int, input_shape=TRANSFER_SHAPE, pretrained: bool = True) -> keras.Model:
    return _transfer("efficientnet_lite0", num_classes, input_shape, pretrained)


@register_model("transfer_mobilenetv2", framework="keras", **RECIPE, offline=False,
                preprocessing=preprocessing_for("mobilenetv2", "keras", TRANSFER_IMAGE_SIZE),
                gradcam_layer=keras_backbones.GRADCAM_LAYERS["mobilenetv2"],
                description="keras.applications mobilenetv2: head, then top 3 blocks")
def build_keras_transfer_mobilenetv2(num_classes: int, input_shape=TRANSFER_SHAPE,
                                     pretrained: bool = True) -> keras.Model:
    return _transfer("mobilenetv2", num_classes, input_shape, pretrained)


@register_model("transfer_efficientnetb0", framework="keras", aliases=("transfer_efficientnet_b0",), **RECIPE,
                offline=False, preprocessing=preprocessing_for("efficientnetb0", "keras", TRANSFER_IMAGE_SIZE),
                gradcam_layer=keras_backbones.GRADCAM_LAYERS["efficientnetb0"],
                description="keras.applications efficientnetb0: head, then top 3 blocks")
def build_keras_transfer_efficientnetb0(num_classes: int, input_shape=TRANSFER_SHAPE,
                                        pretrained: bool = True) -> keras.Model:
    return _transfer("efficientnetb0", num_classes, input_shape, pretrained)


def main(argv: list[str] | None = None) -> None:
    import time

    from shared.data import load_dataset
    from shared.data.keras_data import make_dataset

    parser = argparse.ArgumentParser(description="Feature extraction, then fine-tuning, in Keras.")
    parser.add_argument("--dataset", default="shapes", help="shapes, cifar10, or folder:PATH")
    parser.add_argument("--size", type=int, default=None, help="cap on the images loaded (class-balanced)")
    parser.add_argument("--epochs", type=int, default=4, help="in total: half head only, half fine-tuning")
    parser.add_argument("--image-size", type=int, default=TRANSFER_IMAGE_SIZE)
    parser.add_argument("--dry-run", action="store_true", help="a few hundred images, to check that it runs")
    args = parser.parse_args(argv)
    ds = load_dataset(args.dataset, size=300 if args.dry_run else args.size)
    model, preprocessing = build_keras_transfer(ds.num_classes, args.image_size)
    train, val, test = (make_dataset(split, batch_size=32, train=split is ds.train, mean=ds.mean, std=ds.std,
                                     preprocessing=preprocessing) for split in (ds.train, ds.val, ds.test))
    head_epochs = max(1, args.epochs // 2)
    print(f"{ds.name}: {len(ds.train)} train / {len(ds.val)} val / {len(ds.test)} test, {args.image_size} px")
    for stage, epochs in (("feature extraction", head_epochs), ("fine-tuning", args.epochs - head_epochs)):
        if epochs < 1:
            break
        if stage == "feature extraction":
            freeze_keras_backbone(model, 1e-3)
        else:
            unfreeze_keras_top_blocks(model, UNFREEZE_BLOCKS, 1e-3 * FINE_TUNE_LR_FACTOR)
        start = time.perf_counter()
        fit_compiled(model, train, val, epochs=epochs, verbose=2)
        trainable = sum(int(keras.ops.size(w)) for w in model.trainable_weights)
        accuracy = model.evaluate(test, verbose=0, return_dict=True)["accuracy"]
        print(f"{stage}: {epochs} epochs, {time.perf_counter() - start:.0f} s, trainable {trainable:,} of "
              f"{model.count_params():,}, test accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main()
