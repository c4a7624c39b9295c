"""A model's layers, one row each, with output shapes and parameter counts: the same table for both frameworks.

    table = layer_table(model, "torch", input_shape=(32, 32, 3))    # torchinfo.summary underneath
    table = layer_table(keras_model, "keras")                        # the layers model.summary() lists
    print(table.text()); report.write(table.markdown()); rows = table.as_dicts()   # for an HTML template

Shapes are per image, in the framework's own order: PyTorch (C, H, W), Keras (H, W, C). A row's parameters are
its own and those of the layers inside it (a PyTorch Sequential block sums its children). Each framework counts
its own way: Keras includes BatchNorm's moving mean and variance (as non-trainable weights); PyTorch keeps them as
buffers, outside the count. Both models run one forward pass in inference mode; a torch model's mode is restored.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class LayerRow:
    depth: int                        # 1 = a child of the model, 2 = inside that child, ...
    name: str                         # torch: the dotted path of named_modules(); keras: the layer name
    kind: str                         # the layer's class: Conv2d, BatchNormalization, ...
    output_shape: tuple[int, ...]     # per image: torch (C, H, W), keras (H, W, C); () when unknown
    parameters: int                   # in this layer and the layers inside it
    trainable: int
    leaf: bool = True                 # drawn as a box: no rows inside it in this table, or parameters of its own


@dataclass
class LayerTable:
    framework: str
    model_name: str
    input_shape: tuple[int, ...]      # per image, in the framework's order
    rows: list[LayerRow] = field(default_factory=list)
    total_parameters: int = 0
    trainable_parameters: int = 0

    def as_dicts(self) -> list[dict]:
        """One dict per row, shapes and counts formatted for display (an HTML template's input)."""
        return [{**asdict(row), "output_shape": format_shape(row.output_shape), "parameters": f"{row.parameters:,}",
                 "trainable": f"{row.trainable:,}"} for row in self.rows]

    def markdown(self, max_depth: int | None = None) -> str:
        """A Markdown table; nesting shown by indenting the layer name. `max_depth` hides deeper rows."""
        lines = [f"**{self.model_name}** ({self.framework}), input {format_shape(self.input_shape)}: "
                 f"{self.total_parameters:,} parameters, {self.trainable_parameters:,} trainable", "",
                 "| layer | type | output shape | parameters |", "|---|---|---|---:|"]
        for row in self._visible(max_depth):
            indent = "&nbsp;&nbsp;" * (row.depth - 1)
            lines.append(f"| {indent}`{row.name}` | {row.kind} | {format_shape(row.output_shape)} | {row.parameters:,} |")
        return "\n".join(lines) + "\n"

    def text(self, max_depth: int | None = None) -> str:
        """A fixed-width table for a terminal or a notebook."""
        rows = [("  " * (r.depth - 1) + r.name, r.kind, format_shape(r.output_shape), f"{r.parameters:,}")
                for r in self._visible(max_depth)]
        header = ("layer", "type", "output shape", "parameters")
        widths = [max(len(cells[i]) for cells in [header, *rows]) for i in range(4)]
        line = lambda cells: "  ".join(c.rjust(w) if i == 3 else c.ljust(w)  # noqa: E731
                                        for i, (c, w) in enumerate(zip(cells, widths)))
        body = [line(header), "-" * (sum(widths) + 6), *map(line, rows)]
        body.append(f"{self.total_parameters:,} parameters ({self.trainable_parameters:,} trainable), "
                    f"input {format_shape(self.input_shape)}, {self.framework}")
        return "\n".join(body) + "\n"

    def _visible(self, max_depth: int | None) -> list[LayerRow]:
        return [row for row in self.rows if max_depth is None or row.depth <= max_depth]


def format_shape(shape: tuple[int, ...]) -> str:
    return " x ".join(str(size) for size in shape) if shape else "-"


def layer_table(model, framework: str, input_shape: tuple[int, int, int] | None = None, depth: int = 4) -> LayerTable:
    """The layer table of a torch model (input_shape (H, W, C) required: torchinfo runs it once) or a Keras model
    (its own input shape). `depth`: how deep torch containers are opened (Keras layers are listed flat, with the
    layers of a nested Keras model under it)."""
    if framework == "torch":
        if input_shape is None:
            raise ValueError("a torch model's layer table needs input_shape (H, W, C): torchinfo runs the model once")
        return _torch_table(model, tuple(input_shape), depth)
    if framework == "keras":
        return _keras_table(model)
    raise ValueError(f"framework must be 'torch' or 'keras', got {framework!r}")


def _torch_table(model, input_shape: tuple[int, int, int], depth: int) -> LayerTable:
    import torchinfo

    height, width, channels = input_shape
    # mode="eval": BatchNorm uses (and does not update) its running statistics; torchinfo restores the mode after.
    stats = torchinfo.summary(model, input_size=(1, channels, height, width), depth=depth, verbose=0, mode="eval",
                              device="cpu")
    paths = {id(module): path for path, module in model.named_modules()}
    rows = [LayerRow(depth=info.depth, name=paths.get(id(info.module), info.var_name), kind=info.class_name,
                     output_shape=tuple(info.output_size[1:]) if info.output_size else (),
                     parameters=int(info.num_params), trainable=int(info.trainable_params),
                     leaf=info.is_leaf_layer or info.depth == depth or _has_own_parameters(info.module))
            for info in stats.summary_list if 1 <= info.depth <= depth]  # torchinfo lists every depth
    return LayerTable("torch", type(model).__name__, (channels, height, width), rows,
                      int(stats.total_params), int(stats.trainable_params))


def _has_own_parameters(module) -> bool:
    """A container that is also a layer (timm's BatchNormAct2d: a BatchNorm holding its activation)."""
    return any(True for _ in module.parameters(recurse=False))


def _keras_table(model) -> LayerTable:
    rows = list(_keras_rows(model, depth=1))
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    return LayerTable("keras", model.name, tuple(int(d) for d in model.inputs[0].shape[1:]), rows,
                      int(model.count_params()), trainable)


def _keras_rows(model, depth: int):
    for layer in model.layers:
        nested = hasattr(layer, "layers") and layer.layers    # a Functional or Sequential model used as a layer
        try:
            shape = tuple(int(d) for d in layer.output.shape[1:])
        except (AttributeError, TypeError, ValueError):        # several outputs, or not built
            shape = ()
        trainable = sum(int(w.numpy().size) for w in layer.trainable_weights)
        yield LayerRow(depth, layer.name, type(layer).__name__, shape, int(layer.count_params()), trainable,
                       leaf=not nested)
        if nested:
            yield from _keras_rows(layer, depth + 1)
