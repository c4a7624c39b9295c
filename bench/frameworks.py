"""Keras vs PyTorch: training throughput of the same models, fp32 and bf16, measured in one run.

Models: week 2's CNN (solutions/week2/cnn.py and its Keras twin keras_cnn.py) and week 3's ResNetCNN
(solutions/week3/improved_cnn.py; its Keras twin is `keras_resnet_cnn` below: the same layers, shapes and
parameter count). Precisions: fp32, and bf16 (PyTorch: bf16 autocast + channels_last; Keras: the
"mixed_bfloat16" dtype policy, float32 variables and logits).

A diagnostic row, week 2's Keras CNN without its BatchNormalization layers, shows how much of Keras's step
those take (TensorFlow's CPU batch-norm kernels; PyTorch's oneDNN fuses them).

One training step = forward + backward + SGD(momentum) update on a batch of 256 random 32x32 images; Keras steps
run through `model.fit` on an in-memory dataset, as a learner's would. Every case is timed `--repeats` times,
alternating the cases, and the best repeat counts. Threads: `--threads 1` (the default) pins both frameworks to
one intra-op thread and times CPU seconds of the process, which a shared machine cannot inflate; `--threads 0`
keeps each framework's default and times wall seconds (quiet machines only).

    python -m bench.frameworks               # ~3 minutes; writes results/raw/frameworks.json
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import shared  # noqa: E402,F401 - torch before TensorFlow (see AUTHORING.md)
from bench.common import environment, save, uptime  # noqa: E402

BATCH, SIZE, CLASSES = 256, 32, 10


def keras_resnet_cnn(num_classes: int, input_shape=(32, 32, 3), widths=(64, 128, 128), policy: str = "float32"):
    """week 3's ResNetCNN in Keras: 2x2 whitening conv + GELU, three residual stages, global max-pool, head / 9."""
    import keras
    from keras import layers

    def conv(x, channels, kernel=3, padding="same", bias=False):
        return layers.Conv2D(channels, kernel, padding=padding, use_bias=bias, dtype=policy)(x)

    def norm_gelu(x):
        return layers.Activation("gelu", dtype=policy)(layers.BatchNormalization(dtype=policy)(x))

    inputs = keras.Input(shape=input_shape)
    x = layers.Activation("gelu", dtype=policy)(conv(inputs, 8 * input_shape[-1], 2, "valid", bias=True))
    for channels in widths:
        x = norm_gelu(layers.MaxPooling2D(2, dtype=policy)(conv(x, channels)))
        x = layers.Add(dtype=policy)([x, norm_gelu(conv(x, channels))])
    x = layers.GlobalMaxPooling2D(dtype=policy)(x)
    logits = layers.Dense(num_classes, use_bias=False, dtype="float32")(x)
    return keras.Model(inputs, layers.Rescaling(1 / 9, dtype="float32")(logits))


def keras_cnn_without_batchnorm(policy: str):
    """week 2's Keras CNN with its BatchNormalization layers left out (a diagnosis, not a model to train)."""
    import keras
    from keras import layers

    inputs = keras.Input((SIZE, SIZE, 3))
    x = inputs
    for channels in (32, 64, 128):
        x = layers.Conv2D(channels, 3, padding="same", use_bias=False, dtype=policy)(x)
        x = layers.MaxPooling2D(2, dtype=policy)(layers.ReLU(dtype=policy)(x))
    x = layers.Dense(128, activation="relu", dtype=policy)(layers.Flatten(dtype=policy)(x))
    return keras.Model(inputs, layers.Dense(CLASSES, dtype="float32")(x))


def torch_case(model_name: str, precision: str):
    import torch

    from solutions.week2.cnn import build_cnn
    from solutions.week3.improved_cnn import build_resnet_cnn

    torch.manual_seed(0)
    model = {"week2_cnn": build_cnn, "week3_resnet_cnn": build_resnet_cnn}[model_name](CLASSES, (SIZE, SIZE, 3))
    images, labels = torch.randn(BATCH, 3, SIZE, SIZE), torch.randint(0, CLASSES, (BATCH,))
    bf16 = precision == "bf16"
    if bf16:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)

    def steps(count: int):
        for _ in range(count):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits = model(images)
            loss = torch.nn.functional.cross_entropy(logits.float(), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return steps, sum(p.numel() for p in model.parameters())


def keras_case(model_name: str, precision: str):
    import keras

    from solutions.week2.keras_cnn import build_keras_cnn

    keras.utils.set_random_seed(0)
    policy = "mixed_bfloat16" if precision == "bf16" else "float32"
    if model_name == "week2_cnn_no_bn":   # diagnosis: how much of Keras's step is BatchNormalization?
        model = keras_cnn_without_batchnorm(policy)
    elif model_name == "week2_cnn":
        keras.mixed_precision.set_global_policy(policy)
        try:
            model = build_keras_cnn(CLASSES, (SIZE, SIZE, 3))
        finally:
            keras.mixed_precision.set_global_policy("float32")
    else:
        model = keras_resnet_cnn(CLASSES, (SIZE, SIZE, 3), policy=policy)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    images = rng.normal(size=(BATCH, SIZE, SIZE, 3)).astype("float32")
    labels = rng.integers(0, CLASSES, BATCH)

    def steps(count: int):
        x, y = np.repeat(images, count, axis=0), np.tile(labels, count)
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    return steps, model.count_params()


def run(repeats: int = 3, steps: int = 4, threads: int = 1) -> dict:
    import tensorflow as tf
    import torch

    default_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    clock = time.process_time if threads else time.perf_counter
    load_before = uptime()
    cases = {}
    for framework, make in (("torch", torch_case), ("keras", keras_case)):
        for model_name in ("week2_cnn", "week3_resnet_cnn") + (("week2_cnn_no_bn",) if framework == "keras" else ()):
            for precision in ("fp32", "bf16"):
                run_steps, params = make(model_name, precision)
                run_steps(2)                                          # warm-up: kernels, tracing
                cases[(framework, model_name, precision)] = (run_steps, params, [])
    for _ in range(repeats):
        for (framework, model_name, precision), (run_steps, _, times) in cases.items():
            start = clock()
            run_steps(steps)
            times.append(clock() - start)
    rows = [{"framework": f, "model": m, "precision": p, "params": params,
             "images_per_s": steps * BATCH / min(times), "repeats_s": [round(t, 3) for t in times]}
            for (f, m, p), (_, params, times) in cases.items()]
    for row in rows:
        print(f"{row['framework']:6s} {row['model']:17s} {row['precision']}: {row['images_per_s']:7.0f} img/s "
              f"({row['params']:,} parameters)", flush=True)
    torch.set_num_threads(default_threads)
    payload = {"rows": rows, "batch": BATCH, "steps": steps, "repeats": repeats, "threads": threads,
               "clock": "process CPU seconds" if threads else "wall seconds", "load_before": load_before,
               "load_after": uptime(), "environment": environment()}
    save("frameworks", payload)
    return payload


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads per framework (0: defaults)")
    args = parser.parse_args(argv)
    run(args.repeats, args.steps, args.threads)


if __name__ == "__main__":
    main()
