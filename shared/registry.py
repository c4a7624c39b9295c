"""Models by name, as in timm's `create_model`: the CLI, the report and the autograder build models this way.

A builder is registered with a decorator next to the model it builds:

    @register_model("cnn", framework="torch")
    def build_cnn(num_classes: int, input_shape: tuple[int, int, int], **options) -> nn.Module: ...

`input_shape` is (height, width, channels). Registrations made by modules under solutions/ (and by the shared
pretrained backbones under shared/) are the reference ("reference"); the same decorator in the learner's weeks/
registers "mine", so the report can put both side by side.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

# Modules whose import registers the reference models. Add one line when a week adds a model.
REFERENCE_MODULES = [
    "solutions.week2.cnn",
    "solutions.week2.keras_cnn",
    "solutions.week2.lstm",
    "solutions.week3.improved_cnn",
    "shared.backbones.torch_backbones",
    "shared.backbones.keras_backbones",
    "solutions.week4.fine_tuning",
    "solutions.week4.keras_transfer",
]


@dataclass
class ModelEntry:
    name: str
    framework: str            # "torch" or "keras"
    builder: Callable[..., Any]
    impl: str                 # "reference" or "mine"
    info: dict = field(default_factory=dict)  # recipe and metadata: preprocessing, trainer, description


_REGISTRY: dict[tuple[str, str, str], ModelEntry] = {}


def register_model(name: str, framework: str = "torch", **info) -> Callable:
    def decorator(builder: Callable) -> Callable:
        impl = "reference" if builder.__module__.startswith(("solutions.", "shared.")) else "mine"
        _REGISTRY[(name, framework, impl)] = ModelEntry(name, framework, builder, impl, info)
        return builder

    return decorator


def _load_reference() -> None:
    for module in REFERENCE_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name != module:  # a module that exists but fails to import is a real error
                raise


def get_entry(name: str, framework: str = "torch", impl: str = "reference") -> ModelEntry:
    if impl == "reference":
        _load_reference()
    key = (name, framework, impl)
    if key not in _REGISTRY:
        choices = ", ".join(sorted({n for n, f, i in _REGISTRY if f == framework and i == impl})) or "none"
        raise ValueError(f"no {impl} {framework} model named {name!r}; registered: {choices}")
    return _REGISTRY[key]


def create_model(name: str, framework: str = "torch", impl: str = "reference", **kwargs):
    """Build a registered model: `create_model("cnn", num_classes=10, input_shape=(32, 32, 3))`."""
    return get_entry(name, framework, impl).builder(**kwargs)


def list_models(framework: str | None = None, impl: str = "reference") -> list[str]:
    if impl == "reference":
        _load_reference()
    return sorted({n for n, f, i in _REGISTRY if i == impl and (framework is None or f == framework)})
