"""The one module that writes and reads saved models: `workbook compare` saves each row with `save_model`;
`workbook predict`, `workbook serve`, the API and the tests load them with `load_model`.

A checkpoint is a directory: the weights (`model.pt`, a torch state dict, or `model.keras`) and `manifest.json`,
which says how to rebuild the model and how to feed it (as nanoGPT keeps `model_args` in its checkpoints):

    manifest = Manifest(name="cnn", framework="torch", impl="reference", class_names=[...], input=spec)
    save_model(directory, model, manifest)          # atomic: weights first, the manifest last
    model, manifest = load_model(directory)         # rebuilt with create_model(name, **manifest.model_args)

Loading never runs code from the file: torch weights go through `torch.load(weights_only=True)` and must fit the
rebuilt model key for key and shape for shape; Keras files load in Keras' safe mode. Whatever does not fit
raises CheckpointError with a sentence that says what is wrong.
"""
from __future__ import annotations

import inspect
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from shared.atomic import atomic_write, write_text
from shared.data.input_spec import InputSpec
from shared.ood import TrainingStats

MANIFEST = "manifest.json"
FORMAT = 2
WEIGHTS = {"torch": "model.pt", "keras": "model.keras"}
MAX_SIDE = 2048          # a manifest asking for larger inputs is not one this workbook wrote
MIN_SIDE = 8             # nor one asking for smaller
CHANNELS = (1, 3)
MAX_CLASSES = 10_000     # ImageNet has 1,000; a million names would build a gigabyte-sized last layer
MAX_MANIFEST_BYTES = 1_000_000


class CheckpointError(ValueError):
    """A checkpoint directory that cannot be loaded: missing files, a broken manifest, or another model's weights."""


@dataclass
class Manifest:
    name: str                     # the registry name of the model ("cnn", "transfer_lite0", ...)
    framework: str                # "torch" or "keras"
    impl: str                     # "reference" or "mine"
    class_names: list[str]
    input: InputSpec              # what the model takes in (shape, mean, std)
    dataset: str = ""
    file: str = ""                # the weights file, next to manifest.json (set by save_model)
    metrics: dict = field(default_factory=dict)  # e.g. best_epoch, test_accuracy, for whoever reads it
    training_stats: TrainingStats | None = None  # what the training images look like (shared/ood.py); optional

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def model_args(self) -> dict:
        """What the registry's builder takes to rebuild this model."""
        return {"num_classes": self.num_classes, "input_shape": self.input.shape}

    def as_dict(self) -> dict:
        return {"format": FORMAT, "name": self.name, "framework": self.framework, "impl": self.impl,
                "num_classes": self.num_classes, "class_names": list(self.class_names),
                "input": self.input.as_dict(), "dataset": self.dataset, "file": self.file, "metrics": self.metrics,
                **({"training_stats": self.training_stats.as_dict()} if self.training_stats else {})}


def _weights_file(directory: Path, framework: str) -> Path:
    return directory / WEIGHTS[framework]


def save_model(directory: str | os.PathLike, model, manifest: Manifest) -> Path:
    """Write the weights, then the manifest, each atomically; return the weights' path."""
    directory = Path(directory)
    path = _weights_file(directory, manifest.framework)
    if manifest.framework == "torch":
        import torch

        atomic_write(path, lambda temporary: torch.save(model.state_dict(), temporary))
    else:
        atomic_write(path, lambda temporary: model.save(temporary))
    manifest.file = path.name
    write_text(directory / MANIFEST, json.dumps(manifest.as_dict(), indent=2) + "\n")
    return path


# ----------------------------------------------------------------------------------------------------- reading
def _load_json(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(f"{path.parent} is not a checkpoint directory: it has no {MANIFEST} (point at "
                              f"reports/<run>/checkpoints/<row>, written by `workbook compare`)")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise CheckpointError(f"{path} is larger than {MAX_MANIFEST_BYTES:,} bytes: not a manifest this workbook wrote")
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise CheckpointError(f"{path} is not valid JSON ({error})") from None
    if not isinstance(values, dict):
        raise CheckpointError(f"{path} holds a JSON {type(values).__name__}, not an object")
    return values


def _input_spec(values, path: Path) -> InputSpec:
    shape = values.get("shape") if isinstance(values, dict) else values
    if not (isinstance(shape, list) and len(shape) == 3 and all(type(v) is int for v in shape)):
        raise CheckpointError(f"{path}: 'input' must hold shape [H, W, C] as three whole numbers, got {shape!r}")
    try:
        spec = InputSpec.from_dict(values)
    except (KeyError, TypeError, ValueError, OverflowError) as error:
        raise CheckpointError(f"{path}: 'input' must hold shape [H, W, C], mean and std ({error})") from None
    if not (MIN_SIDE <= spec.height <= MAX_SIDE and MIN_SIDE <= spec.width <= MAX_SIDE
            and spec.channels in CHANNELS):
        raise CheckpointError(f"{path}: input shape {spec.shape} is not one this workbook trains (sides "
                              f"{MIN_SIDE} to {MAX_SIDE}, {' or '.join(map(str, CHANNELS))} channels)")
    return spec


def _training_stats(values, path: Path) -> TrainingStats | None:
    if values is None:
        return None
    try:
        return TrainingStats.from_dict(values)
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: 'training_stats' is not what `workbook compare` writes ({error})") from None


def read_manifest(directory: str | os.PathLike) -> Manifest:
    """The manifest of a checkpoint directory, checked field by field; CheckpointError says what is wrong."""
    directory = Path(directory)
    path = directory / MANIFEST
    values = _load_json(path)
    if values.get("format") != FORMAT:
        raise CheckpointError(f"{path} has format {values.get('format')!r}, this workbook reads format {FORMAT}: "
                              f"save the model again with `workbook compare`")
    missing = [key for key in ("name", "framework", "impl", "class_names", "input", "file") if key not in values]
    if missing:
        raise CheckpointError(f"{path} lacks {', '.join(missing)}")
    names = values["class_names"]
    if not (isinstance(names, list) and names and all(isinstance(n, str) and 0 < len(n) <= 200 for n in names)):
        raise CheckpointError(f"{path}: class_names must be a non-empty list of names (1 to 200 characters)")
    if len(names) > MAX_CLASSES:
        raise CheckpointError(f"{path}: class_names must hold at most {MAX_CLASSES:,} names, got {len(names):,}")
    repeated = sorted({name for name in names if names.count(name) > 1}) if len(set(names)) != len(names) else []
    if repeated:
        raise CheckpointError(f"{path}: class_names must be different names; repeated: {', '.join(repeated[:5])}")
    if values["framework"] not in WEIGHTS:
        raise CheckpointError(f"{path}: unknown framework {values['framework']!r} (torch or keras)")
    if values["file"] != WEIGHTS[values["framework"]]:
        raise CheckpointError(f"{path}: the weights file must be {WEIGHTS[values['framework']]!r}, "
                              f"got {values['file']!r}")
    if not (directory / values["file"]).is_file():
        raise CheckpointError(f"{directory} has no weights file {values['file']!r} (named in its manifest)")
    return Manifest(name=str(values["name"]), framework=values["framework"], impl=str(values["impl"]),
                    class_names=names, input=_input_spec(values["input"], path),
                    dataset=str(values.get("dataset", "")), file=values["file"],
                    metrics=values.get("metrics") if isinstance(values.get("metrics"), dict) else {},
                    training_stats=_training_stats(values.get("training_stats"), path))


def state_dict_problems(expected: dict, state: dict) -> list[str]:
    """What keeps `state` from loading into a model whose state dict is `expected`: keys missing from the
    file, keys the model does not have, and shapes that differ. Empty when it fits (week 3's check, too)."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [f"{key} (file {tuple(state[key].shape)}, model {tuple(expected[key].shape)})"
              for key in sorted(set(state) & set(expected))
              if tuple(getattr(state[key], "shape", ())) != tuple(expected[key].shape)]
    return [f"{label}: {', '.join(items[:3])}{' ...' if len(items) > 3 else ''} ({len(items)})"
            for label, items in (("missing from the file", missing), ("not in the model", unexpected),
                                 ("shape mismatch", shapes)) if items]


def _torch_model(directory: Path, manifest: Manifest):
    import torch

    from shared.registry import get_entry

    try:
        entry = get_entry(manifest.name, "torch", manifest.impl)
    except ValueError as error:
        raise CheckpointError(f"the manifest names a model this workbook cannot build: {error}") from None
    options = dict(manifest.model_args)
    if "pretrained" in inspect.signature(entry.builder).parameters:
        options["pretrained"] = False  # the checkpoint replaces every weight: no need to load ImageNet's first
    try:
        model = entry.builder(**options)
    except Exception as error:  # noqa: BLE001 — a builder refusing the manifest's shape is the manifest's fault
        raise CheckpointError(f"{directory / MANIFEST}: {manifest.name!r} cannot be built for input "
                              f"{manifest.input.shape} and {manifest.num_classes} classes ({error})") from None
    path = directory / manifest.file
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 — any unreadable file is reported the same way
        raise CheckpointError(f"{path} is not a PyTorch state dict that can be loaded safely ({error})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} holds a {type(state).__name__} that is not a state dict of tensors")
    problems = state_dict_problems(model.state_dict(), state)
    if problems:
        raise CheckpointError(f"{path} holds the weights of another model: they do not fit {manifest.name!r} "
                              f"(torch, {manifest.num_classes} classes, input {manifest.input.shape}) as its "
                              f"manifest says — " + "; ".join(problems))
    model.load_state_dict(state)
    return model.eval()


def _keras_model(directory: Path, manifest: Manifest):
    import keras

    path = directory / manifest.file
    try:
        model = keras.models.load_model(path, safe_mode=True)
    except Exception as error:  # noqa: BLE001
        raise CheckpointError(f"{path} could not be loaded as a Keras model ({error})") from None
    outputs = int(model.outputs[0].shape[-1])
    inputs = tuple(int(d) for d in model.inputs[0].shape[1:])
    if outputs != manifest.num_classes or inputs != manifest.input.shape:
        raise CheckpointError(f"{path} holds another model: it maps {inputs} to {outputs} classes, but the manifest "
                              f"says {manifest.input.shape} to {manifest.num_classes}")
    return model


def load_model(directory: str | os.PathLike):
    """(model, manifest) from a checkpoint directory; CheckpointError with a sentence when it cannot be loaded."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    loader = _torch_model if manifest.framework == "torch" else _keras_model
    return loader(directory, manifest), manifest
