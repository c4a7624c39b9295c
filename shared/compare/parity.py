"""`workbook parity cnn|lstm`: are the PyTorch model and its Keras twin the same model, trained the same way?

Build both, copy PyTorch's initial weights into Keras (`copy_torch_weights`), feed both the same batches with the
optimizer and schedule of their real recipe, and compare the loss of every step. In float32 on a CPU the two
stay within 1e-3 of each other (relative) for the first 20 steps when everything matches; a wrong BatchNorm
epsilon, Adam epsilon, schedule or weight layout shows up in the first few steps. Dropout is switched off: its
random masks cannot be shared between frameworks. After the steps, the eval-mode logits of a held-out batch are
compared too, which checks BatchNorm's running statistics (its momentum) and evaluation mode.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from shared import reference
from shared.registry import create_model

TOLERANCE = 1e-3        # largest relative difference of the losses over the steps
EVAL_TOLERANCE = 2e-2   # largest absolute difference of eval-mode logits afterwards (matched twins: ~5e-3)
MODELS = {"cnn": {"dropout_rate": 0.0}, "lstm": {}}   # builder options for the check: dropout off


@dataclass
class ParityResult:
    model: str
    torch_losses: list[float] = field(default_factory=list)
    keras_losses: list[float] = field(default_factory=list)
    eval_logits_difference: float = float("nan")   # largest |torch - keras| of eval-mode logits after the steps

    @property
    def relative_differences(self) -> list[float]:
        return [abs(t - k) / max(abs(t), 1e-12) for t, k in zip(self.torch_losses, self.keras_losses)]

    @property
    def largest(self) -> tuple[float, int]:
        """(largest relative difference, its step); NaN anywhere counts as infinitely different."""
        differences = [d if np.isfinite(d) else np.inf for d in self.relative_differences]
        step = int(np.argmax(differences))
        return float(differences[step]), step

    @property
    def ok(self) -> bool:
        return self.largest[0] < TOLERANCE and self.eval_logits_difference < EVAL_TOLERANCE


# ---- weights: PyTorch layout -> Keras layout ----------------------------------------------------------------

def _torch_layers(model) -> list:
    import torch.nn as nn

    kinds = (nn.Conv2d, nn.BatchNorm2d, nn.Linear, nn.LSTM)
    return [module for module in model.modules() if isinstance(module, kinds)]


def _keras_layers(model) -> list[tuple[object, tuple | None]]:
    """Keras layers that hold weights, each with the (H, W, C) feature shape a Flatten right before it reshaped."""
    from keras import layers

    found, flattened = [], None
    for layer in model.layers:
        if isinstance(layer, layers.Flatten):
            flattened = tuple(layer.input.shape[1:])
        elif layer.weights:
            found.append((layer, flattened))
            flattened = None
    return found


def _dense_kernel(weight: np.ndarray, flattened: tuple | None) -> np.ndarray:
    """nn.Linear weight (out, in) -> Dense kernel (in, out). After a Flatten the inputs are ordered differently:
    PyTorch flattens (C, H, W), Keras (H, W, C), so the columns are permuted to match."""
    if flattened is not None and len(flattened) == 3:
        height, width, channels = flattened
        weight = weight.reshape(-1, channels, height, width).transpose(0, 2, 3, 1).reshape(weight.shape[0], -1)
    return weight.T


def copy_torch_weights(torch_model, keras_model) -> None:
    """Give `keras_model` the weights of its PyTorch twin, layer by layer in order: Conv2d -> Conv2D,
    BatchNorm2d -> BatchNormalization (with its running statistics), Linear -> Dense, LSTM -> LSTM.
    ValueError when the two do not have the same layers."""
    import torch.nn as nn

    sources, targets = _torch_layers(torch_model), _keras_layers(keras_model)
    if len(sources) != len(targets):
        raise ValueError(f"the PyTorch model has {len(sources)} layers with weights, the Keras model "
                         f"{len(targets)}: they are not twins")
    for source, (target, flattened) in zip(sources, targets):
        state = {name: tensor.detach().cpu().numpy() for name, tensor in source.state_dict().items()}
        if isinstance(source, nn.Conv2d):
            values = [state["weight"].transpose(2, 3, 1, 0)] + ([state["bias"]] if "bias" in state else [])
        elif isinstance(source, nn.BatchNorm2d):
            values = [state["weight"], state["bias"], state["running_mean"], state["running_var"]]
        elif isinstance(source, nn.Linear):
            values = [_dense_kernel(state["weight"], flattened)] + ([state["bias"]] if "bias" in state else [])
        else:  # nn.LSTM, one layer: gates in the same order (input, forget, cell, output); Keras has one bias
            if source.num_layers != 1 or source.bidirectional:
                raise ValueError("only a one-layer, one-directional LSTM has a Keras twin here")
            values = [state["weight_ih_l0"].T, state["weight_hh_l0"].T, state["bias_ih_l0"] + state["bias_hh_l0"]]
        shapes = [tuple(w.shape) for w in target.get_weights()]
        if shapes != [v.shape for v in values]:
            raise ValueError(f"{type(source).__name__} -> {target.name}: shapes {[v.shape for v in values]} do not "
                             f"fit {shapes}")
        target.set_weights(values)


# ---- the check ------------------------------------------------------------------------------------------------

def _batches(model: str, steps: int, batch_size: int, seed: int):
    """`steps` training batches (torch layout) and one held-out batch, from `shapes`."""
    from shared.data import input_spec, load_dataset
    from shared.data.torch_data import make_loader

    size = max(300, int(1.3 * (steps * batch_size + batch_size)))
    dataset = load_dataset("shapes", size=size, seed=seed)
    spec = input_spec(dataset.image_shape, dataset.mean, dataset.std)
    train = make_loader(dataset.train, batch_size=batch_size, train=True, spec=spec, seed=seed)
    batches = []
    while len(batches) < steps:
        batches += [batch for batch in train if len(batch[1]) == batch_size]
    held_out = next(iter(make_loader(dataset.test, batch_size=batch_size, spec=spec)))
    return batches[:steps], held_out, dataset


def default_run_steps(batch_size: int) -> int:
    """Training steps of a week-2 row in the default `workbook compare` run: its schedule is the one checked."""
    from shared.compare.config import CompareConfig
    from shared.data import DEFAULT_TEST_FRACTION, DEFAULT_VAL_FRACTION

    train_images = round(CompareConfig().size * (1 - DEFAULT_VAL_FRACTION - DEFAULT_TEST_FRACTION))
    return reference.week2_recipe().epochs * -(-train_images // batch_size)


def run_parity(model: str, steps: int = 20, batch_size: int | None = None, seed: int = 0) -> ParityResult:
    """Train both twins of `model` ("cnn" or "lstm") for `steps` steps on the same batches, with the optimizer
    and the learning-rate schedule of the default comparison run (its first `steps` steps); the losses side by
    side. `batch_size` defaults to the recipe's."""
    import keras
    import torch

    if model not in MODELS:
        raise ValueError(f"no parity check for {model!r}; choose one of: {', '.join(MODELS)}")
    batch_size = batch_size or reference.week2_recipe().batch_size
    batches, (held_images, _), dataset = _batches(model, steps, batch_size, seed)
    torch.manual_seed(seed)
    options = dict(num_classes=dataset.num_classes, input_shape=dataset.image_shape, **MODELS[model])
    torch_model = create_model(model, "torch", **options)
    keras.utils.set_random_seed(seed)
    keras_model = create_model(model, "keras", **options)
    copy_torch_weights(torch_model, keras_model)
    torch_optimizer, keras_optimizer = reference.twin_optimizers(torch_model, max(steps, default_run_steps(batch_size)))
    keras_model.compile(optimizer=keras_optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    loss_fn = torch.nn.CrossEntropyLoss()
    result = ParityResult(model)
    torch_model.train()
    for images, labels in batches:
        torch_optimizer.zero_grad()
        loss = loss_fn(torch_model(images), labels)
        loss.backward()
        torch_optimizer.step()
        result.torch_losses.append(loss.item())
        keras_images = images.permute(0, 2, 3, 1).numpy()                      # (B, C, H, W) -> (B, H, W, C)
        result.keras_losses.append(float(keras_model.train_on_batch(keras_images, labels.numpy())))
    torch_model.eval()
    with torch.no_grad():
        torch_logits = torch_model(held_images).numpy()
    keras_logits = np.asarray(keras_model(held_images.permute(0, 2, 3, 1).numpy(), training=False))
    result.eval_logits_difference = float(np.max(np.abs(torch_logits - keras_logits)))
    return result


def format_result(result: ParityResult) -> str:
    """The losses side by side, then one line: the largest relative difference and whether it is under 1e-3."""
    lines = [f"{result.model}: PyTorch's initial weights copied into Keras, the same {len(result.torch_losses)} "
             f"batches, the recipe's optimizer and schedule, dropout off (float32, CPU)",
             f"{'step':>4}  {'torch loss':>11}  {'keras loss':>11}  {'relative diff':>13}"]
    for step, (t, k, d) in enumerate(zip(result.torch_losses, result.keras_losses, result.relative_differences)):
        lines.append(f"{step:>4}  {t:>11.6f}  {k:>11.6f}  {d:>13.2e}")
    largest, step = result.largest
    verdict = "the twins match" if result.ok else "the twins DIFFER"
    lines.append(f"largest relative difference {largest:.2e} at step {step} (tolerance {TOLERANCE:g}); eval-mode "
                 f"logits after the steps differ by at most {result.eval_logits_difference:.2e} (tolerance "
                 f"{EVAL_TOLERANCE:g}): {verdict}")
    return "\n".join(lines)
