"""Models by name, as in timm's `create_model`: the CLI, the report and the autograder build models this way.

A builder is registered with a decorator next to the model it builds:

    @register_model("cnn", framework="torch", trainer=train_with_adam, description="...")
    def build_cnn(num_classes: int, input_shape: tuple[int, int, int], **options) -> nn.Module: ...

`input_shape` is (height, width, channels). The keyword arguments after the framework are the model's `info`:
its recipe for `workbook compare` (shared/compare/recipe.py documents the keys: `trainer`, `preprocessing`,
`learning_rate`, `batch_size`, `description`). `aliases` are other names for the same entry.

Like timm's registry, this one names no model module: a module registers its models when it is imported.
Builders defined under solutions/ (and shared/'s pretrained backbones) are the reference ("reference"); the same
decorator in the learner's weeks/ registers "mine", so the report can put both side by side. The reference
models are imported on first use through shared.reference, the one door from shared/ into solutions/.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

REFERENCE_PACKAGES = ("solutions.", "shared.")  # builders defined here are the reference implementation


@dataclass
class ModelEntry:
    name: str
    framework: str            # "torch" or "keras"
    builder: Callable[..., Any]
    impl: str                 # "reference" or "mine"
    info: dict = field(default_factory=dict)  # the row recipe and metadata (see shared/compare/recipe.py)


_REGISTRY: dict[tuple[str, str, str], ModelEntry] = {}
_ALIASES: dict[tuple[str, str], str] = {}    # (alias, framework) -> name


def register_model(name: str, framework: str = "torch", *, aliases: tuple[str, ...] = (), **info) -> Callable:
    def decorator(builder: Callable) -> Callable:
        impl = "reference" if builder.__module__.startswith(REFERENCE_PACKAGES) else "mine"
        _REGISTRY[(name, framework, impl)] = ModelEntry(name, framework, builder, impl, info)
        _ALIASES.update({(alias, framework): name for alias in aliases})
        return builder

    return decorator


def _load(impl: str) -> None:
    if impl == "reference":
        from shared import reference

        reference.load_models()


def get_entry(name: str, framework: str = "torch", impl: str = "reference") -> ModelEntry:
    _load(impl)
    key = (_ALIASES.get((name, framework), name), framework, impl)
    if key not in _REGISTRY:
        choices = ", ".join(list_models(framework, impl)) or "none"
        raise ValueError(f"no {impl} {framework} model named {name!r}; registered: {choices}")
    return _REGISTRY[key]


def create_model(name: str, framework: str = "torch", impl: str = "reference", **kwargs):
    """Build a registered model: `create_model("cnn", num_classes=10, input_shape=(32, 32, 3))`."""
    return get_entry(name, framework, impl).builder(**kwargs)


def list_models(framework: str | None = None, impl: str = "reference") -> list[str]:
    _load(impl)
    return sorted({n for n, f, i in _REGISTRY if i == impl and (framework is None or f == framework)})
