"""Week 4 · keras_transfer.py: `trainable` in both stages, BatchNorm in inference mode, and recompiling.

Freezing is tested on a tiny model laid out and named like the Lite0 port (stem, three blocks, top conv,
pooling, Dense head), so that each `fit` compiles in well under a second; the real Lite0 is built once for the
head and preprocessing test.
"""
from __future__ import annotations


import numpy as np
import pytest

from shared.grading.checks import expect_shape, expect_true, fail
from shared.grading.target import exercise


kt = exercise("week4", "keras_transfer")

SIZE, NUM_CLASSES, TOP = 16, 3, 2


def tiny_backbone():
    """conv_stem/bn1 -> blocks_{0,1,2}_0 (conv, bn) -> conv_head/bn2 -> pooling -> Dense(10): Lite0's names."""
    import keras
    from keras import layers

    inputs = keras.Input((SIZE, SIZE, 3))
    x = layers.Conv2D(4, 3, strides=2, padding="same", use_bias=False, name="conv_stem")(inputs)
    x = layers.ReLU()(layers.BatchNormalization(name="bn1")(x))
    for stage in range(3):
        x = layers.Conv2D(6, 3, padding="same", use_bias=False, name=f"blocks_{stage}_0_conv_pw")(x)
        x = layers.ReLU()(layers.BatchNormalization(name=f"blocks_{stage}_0_bn1")(x))
    x = layers.Conv2D(8, 1, use_bias=False, name="conv_head")(x)
    x = layers.ReLU()(layers.BatchNormalization(name="bn2")(x))
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    return keras.Model(inputs, layers.Dense(10, name="classifier")(x), name="tiny")


def tiny_transfer():
    import keras
    from keras import layers

    base = tiny_backbone()
    features = base.get_layer("global_pool").output
    return keras.Model(base.inputs, layers.Dense(NUM_CLASSES, name="head")(features))


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(8, SIZE, SIZE, 3)).astype("float32"), np.arange(8) % NUM_CLASSES


def _fit_once(model):
    images, labels = _data()
    model.fit(images, labels, batch_size=8, epochs=1, verbose=0)


def _values(layer_list):
    return [np.array(w) for layer in layer_list for w in layer.weights]


def _trainable_names(model) -> set[str]:
    return {layer.name for layer in model.layers if layer.trainable and layer.trainable_weights}


@pytest.mark.points(1)
def test_replace_keras_head():
    base = tiny_backbone()
    model = kt.replace_keras_head(base, NUM_CLASSES)
    out = np.asarray(model(_data()[0][:2], training=False))
    if out.shape == (2, NUM_CLASSES) and (out >= 0).all() and np.allclose(out.sum(axis=1), 1, atol=1e-4):
        fail("the new head outputs probabilities (a softmax): compile_transfer's loss takes logits "
             "(from_logits=True), so the softmax would be applied twice. Leave the Dense without activation.")
    if out.shape == (2, 10):
        fail("the model still outputs the old head's 10 logits: put a new Dense(num_classes) on the pooling output")
    expect_shape("replace_keras_head(model, 3) output", out, (2, NUM_CLASSES))
    expect_true(any(layer is base.get_layer("conv_stem") for layer in model.layers),
                "the new model must reuse the backbone's layers (and their weights), not copies")


@pytest.mark.points(2)
def test_build_keras_transfer_lite0():
    model, preprocessing = kt.build_keras_transfer(4, image_size=32)
    out = np.asarray(model(np.zeros((2, 32, 32, 3), "float32"), training=False))
    if out.shape == (2, 1000):
        fail("the Keras model still outputs 1000 logits: the head was left at ImageNet's 1000 classes")
    expect_shape("build_keras_transfer(4, image_size=32) output", out, (2, 4))
    if np.allclose(preprocessing.mean, (0.485, 0.456, 0.406), atol=1e-3):
        fail("ImageNet mean/std used on the Lite0 backbone, which expects mean = std = 0.5 ([-1, 1] inputs)")
    expect_true(np.allclose(preprocessing.mean, 0.5) and np.allclose(preprocessing.std, 0.5)
                and preprocessing.size == 32, f"preprocessing {preprocessing}: expected size 32, mean = std = 0.5")


@pytest.fixture(scope="module")
def staged():
    """The tiny model through both stages, with the weights before and after each `fit` step."""
    model = tiny_transfer()
    record = {"model": model}
    try:
        kt.freeze_keras_backbone(model, learning_rate=1e-2)
        record["stage1_trainable"] = _trainable_names(model)
        record["stage1_model_trainable"] = (model.trainable, len(model.trainable_weights))
        before = _values(model.layers)
        _fit_once(model)
        record["stage1"] = (before, _values(model.layers))
        kt.unfreeze_keras_top_blocks(model, TOP, learning_rate=1e-3)
        record["stage2_trainable"] = _trainable_names(model)
        before = _values(model.layers)
        _fit_once(model)
        record["stage2"] = (before, _values(model.layers))
    except NotImplementedError as error:
        record["error"] = error
    return record


def _changes(model, pair) -> dict[str, bool]:
    """{layer/weight name: changed} over one fit step."""
    before, after = pair
    names = [f"{l.name}/{w.name}" for l in model.layers for w in l.weights]
    return {name: not np.allclose(a, b) for name, a, b in zip(names, before, after)}


def _get(staged, key):
    if "error" in staged and key not in staged:
        raise staged["error"]
    return staged[key]


@pytest.mark.points(2)
def test_stage1_trains_only_the_head(staged):
    trainable = _get(staged, "stage1_trainable")
    model_trainable, trained_weights = _get(staged, "stage1_model_trainable")
    if not model_trainable or not trained_weights:
        fail("stage 1: the model trains no weights at all (model.trainable_weights is empty). model.trainable = False "
             "freezes every layer inside the model, the head too, whatever head.trainable says afterwards: set "
             "layer.trainable per layer instead.")
    all_layers = {l.name for l in staged["model"].layers if l.weights}
    if trainable == all_layers:
        fail("stage 1: nothing is frozen — every layer is trainable. Set layer.trainable = False on every layer "
             "but the head.")
    if not trainable:
        fail("stage 1: everything is frozen, the head too: keep the last Dense layer trainable.")
    expect_true(trainable == {"head"}, f"stage 1: trainable layers {sorted(trainable)}; expected only the head")
    changes = _changes(staged["model"], _get(staged, "stage1"))
    expect_true(changes.get("head/kernel", False), "stage 1: fit did not change the head: compile after freezing")
    moved = [n for n, c in changes.items() if c and not n.startswith("head/")]
    expect_true(not moved, f"stage 1: frozen weights changed during fit: {', '.join(moved[:3])} (BatchNorm's "
                           f"moving statistics only stay put when the layer is frozen: trainable = False)")


@pytest.mark.points(3)
def test_stage2_recompiles_and_trains_the_top_blocks(staged):
    trainable = _get(staged, "stage2_trainable")
    expected = {"head", "conv_head", "blocks_2_0_conv_pw"}
    expect_true(not any("bn" in name for name in trainable),
                f"stage 2: BatchNormalization layers are trainable ({sorted(n for n in trainable if 'bn' in n)}); "
                f"keep them frozen so that they stay in inference mode")
    expect_true(trainable == expected, f"stage 2: trainable layers {sorted(trainable)}; expected the head and the "
                                       f"non-BatchNorm layers of the top {TOP} blocks: {sorted(expected)}")
    changes = _changes(staged["model"], _get(staged, "stage2"))
    if not changes["conv_head/kernel"] and changes["head/kernel"]:
        fail("stage 2: the unfrozen layers did not change during fit, only the head did — the model was not "
             "recompiled after setting trainable = True. Keras fixes the list of trained weights at compile "
             "time: call model.compile(...) again after unfreezing.")
    expect_true(changes["conv_head/kernel"] and changes["blocks_2_0_conv_pw/kernel"],
                "stage 2: fit did not change the top blocks")
    moved = [n for n, c in changes.items() if c and n.split("/")[0] not in expected]
    expect_true(not moved, f"stage 2: weights that must stay frozen changed: {', '.join(moved[:3])}")
    rate = float(np.asarray(staged["model"].optimizer.learning_rate))
    expect_true(abs(rate - 1e-3) < 1e-9, f"stage 2 compiled with learning rate {rate:g}; expected the 1e-3 passed in")
