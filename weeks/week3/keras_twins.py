# + active="ipynb"
# # Notebook set-up (a comment in the .py file): find the workbook from the repository root, and let
# # `from .x import y` lines import your other week3 files, as `python -m weeks.week3.keras_twins` does.
# import sys, pathlib; sys.path.insert(0, str(pathlib.Path.cwd().parents[1]))
# __package__ = "weeks.week3"
# -

# Exercise generated from solutions/week3/keras_twins.py by `workbook release`: fill in each `# YOUR CODE HERE`.
"""Week 3 · Exercise 9: The Keras twins: schedules, augmentation layers, built-in callbacks and mixed precision.

What you will learn — where Keras does the same thing differently from our PyTorch loop:
- Schedules. A `keras.optimizers.schedules.LearningRateSchedule` is passed *as* the optimizer's learning rate and
  is evaluated at every optimizer step (per batch), so it cannot be stepped at the wrong granularity. A
  `keras.callbacks.LearningRateScheduler(fn)` sets the LR at the start of each epoch (per epoch).
- Augmentation. Preprocessing layers (`RandomTranslation`, `RandomFlip`, `RandomBrightness`, ...) act only when called
  with `training=True`: inside a model they are off in `evaluate`/`predict` by design.
- Callbacks. `EarlyStopping(restore_best_weights=True)`, `ModelCheckpoint(save_best_only=True)` and
  `ReduceLROnPlateau` are built in; `fit` owns the loop and calls them with a `logs` dict. Our PyTorch protocol
  (callbacks.py) passes the state explicitly instead; both monitor a validation metric with a `mode`.
  Note Keras's EarlyStopping restores the best weights only with `restore_best_weights=True`; the default keeps
  the last ones. And Keras's ModelCheckpoint writes straight to its path, so a crash during a save can leave a
  broken file where the best model was; ours (callbacks.py) writes a temporary file and moves it into place.
- Mixed precision. A dtype policy ("mixed_bfloat16" on CPU, "mixed_float16" on GPU, where `fit` adds loss scaling
  for you) computes in 16 bits with float32 variables. Keep the output layer (logits and softmax) in float32:
  `layers.Dense(num_classes, dtype="float32")`, or a float32 `Activation("softmax")` after it.

Run it: `python -m weeks.week3.keras_twins` prints a few schedule values and a
mixed-precision model's dtypes.
"""
from __future__ import annotations

import argparse

import keras
from keras import layers


def keras_cosine_warmup(base_lr: float, total_steps: int, warmup_steps: int) -> keras.optimizers.schedules.CosineDecay:
    """Linear warmup from 0 to `base_lr` over `warmup_steps` steps, then cosine decay to 0 at `total_steps`.

    Hint: `keras.optimizers.schedules.CosineDecay(initial_learning_rate, decay_steps, warmup_target=...,
    warmup_steps=...)` warms up from `initial_learning_rate` to `warmup_target`, then decays over `decay_steps`.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def keras_step_decay(base_lr: float, step_size: int, gamma: float = 0.1) -> keras.callbacks.LearningRateScheduler:
    """A per-epoch callback: LR = base_lr * gamma ** (epoch // step_size)."""
    # YOUR CODE HERE
    raise NotImplementedError()


def keras_augmentation(image_size: int, padding: int = 4, jitter: float = 0.2, seed: int = 0) -> keras.Sequential:
    """Shift by up to `padding` pixels (`RandomTranslation` with reflection: Keras's pad + random crop), flip
    horizontally, jitter brightness and contrast.
    Input and output: float images (B, H, W, C) in [0, 255]; identity when called with training=False."""
    # YOUR CODE HERE
    raise NotImplementedError()


def keras_callbacks(checkpoint_path: str, monitor: str = "val_loss", patience: int = 3) -> list:
    """Keras's built-in trio: EarlyStopping (restoring the best weights), ModelCheckpoint (best only) and
    ReduceLROnPlateau (halve the LR after `patience` // 2 epochs without improvement), all monitoring `monitor`."""
    # YOUR CODE HERE
    raise NotImplementedError()


def build_keras_mixed_cnn(num_classes: int, input_shape: tuple[int, int, int], policy: str = "mixed_bfloat16",
                          width: int = 32) -> keras.Model:
    """A small CNN whose hidden layers use the dtype policy `policy` and whose output layer is float32.

    Pass `dtype=policy` to each hidden layer (this leaves the global policy alone) and `dtype="float32"` to the
    last Dense, so the model outputs float32 logits. Output: logits (B, num_classes).
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print a few schedule values and a mixed-precision model's dtypes.")
    parser.add_argument("--dry-run", action="store_true", help="the same: it is already quick")
    parser.parse_args(argv)
    schedule = keras_cosine_warmup(0.1, total_steps=100, warmup_steps=10)
    print("cosine+warmup LR at steps 0, 5, 10, 55, 99:", [round(float(schedule(s)), 4) for s in (0, 5, 10, 55, 99)])
    model = build_keras_mixed_cnn(10, (32, 32, 3))
    print("layer compute dtypes:", [layer.compute_dtype for layer in model.layers[1:]])
    print("output dtype:", model(keras.ops.zeros((1, 32, 32, 3))).dtype)


# + active="py"
if __name__ == "__main__":
    main()
# -


# ## Check your work
# The cell below runs this exercise's autograder tests on `weeks/week3/keras_twins.py` as saved, and prints the
# scoreboard: save the notebook first (Ctrl+S). From a terminal: `pytest autograder/week3/test_keras_twins.py`.

# + active="ipynb"
# from shared.grading.notebook import grade
# grade("week3", "keras_twins", globals())
