"""A block diagram of a layer table, drawn with matplotlib (no graphviz: a fresh clone has no system packages).

    figure = draw_diagram(layer_table(model, "torch", (32, 32, 3)))
    figure.savefig("cnn.png", dpi=120)

One box per layer from input to output, coloured by what the layer does (convolution, normalisation,
activation, pooling, dense, dropout, reshaping), with its output shape and parameter count. A model with more
than `max_boxes` layers (a pretrained backbone has hundreds) is drawn one box per stage instead: consecutive layers
whose output has the same spatial size, labelled with how many layers of which kinds they hold.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from shared.architecture.table import LayerRow, LayerTable, format_shape
from shared.atomic import atomic_write

MAX_BOXES = 24
COLOURS = {  # what a layer does -> box colour (matplotlib's tab10, light)
    "conv": "#aec7e8", "norm": "#c5b0d5", "activation": "#ffbb78", "pool": "#98df8a", "dense": "#ff9896",
    "dropout": "#dbdb8d", "reshape": "#c7c7c7", "input": "#ffffff", "stage": "#9edae5", "other": "#f7b6d2",
}
_KINDS = [  # (substring of the class name, lower case) -> role; first match wins
    ("input", "input"), ("conv", "conv"), ("norm", "norm"), ("pool", "pool"), ("linear", "dense"),
    ("dense", "dense"), ("dropout", "dropout"), ("flatten", "reshape"), ("reshape", "reshape"),
    ("relu", "activation"), ("gelu", "activation"), ("silu", "activation"), ("swish", "activation"),
    ("sigmoid", "activation"), ("activation", "activation"), ("softmax", "activation"), ("sequential", "stage"),
    ("modulelist", "stage"),
]
SKIPPED = {"identity", "inputlayer"}   # nothing to draw: no computation (the input gets its own box)


@dataclass
class Box:
    title: str
    detail: str                  # output shape and parameters
    role: str                    # a COLOURS key


def role(kind: str) -> str:
    lower = kind.lower()
    return next((name for key, name in _KINDS if key in lower), "other")


def _spatial(row: LayerRow, framework: str) -> tuple[int, ...]:
    shape = row.output_shape
    if len(shape) != 3:
        return ("flat",)   # vectors (and unknown shapes): the head is one stage
    return tuple(shape[1:]) if framework == "torch" else tuple(shape[:2])


def stages(table: LayerTable, max_boxes: int = MAX_BOXES) -> list[list[LayerRow]]:
    """The leaf layers, one group each, or grouped by stage (consecutive layers of equal spatial output size)
    when there are more than `max_boxes`."""
    leaves = [row for row in table.rows if row.leaf and row.kind.lower() not in SKIPPED]
    if len(leaves) <= max_boxes:
        return [[row] for row in leaves]
    groups: list[list[LayerRow]] = []
    for row in leaves:
        if groups and _spatial(row, table.framework) == _spatial(groups[-1][-1], table.framework):
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups


def stage_summary(stage: list[LayerRow]) -> str:
    """`12 layers: 5 conv, 4 norm, 3 activation`: what a group of layers holds (its three commonest roles)."""
    kinds = Counter(role(row.kind) for row in stage)
    return f"{len(stage)} layers: " + ", ".join(f"{count} {name}" for name, count in kinds.most_common(3))


def boxes(table: LayerTable, max_boxes: int = MAX_BOXES) -> list[Box]:
    """The boxes to draw: one per leaf layer, or one per stage of equal spatial size when there are too many."""
    result = []
    for stage in stages(table, max_boxes):
        if len(stage) == 1:
            row = stage[0]
            result.append(Box(row.kind, f"{format_shape(row.output_shape)} · {row.parameters:,} params", role(row.kind)))
            continue
        parameters = sum(row.parameters for row in stage)
        result.append(Box(stage_summary(stage), f"{format_shape(stage[-1].output_shape)} · {parameters:,} params",
                          "stage"))
    return result


def draw_diagram(table: LayerTable, max_boxes: int = MAX_BOXES):
    """A matplotlib Figure (not pyplot's: nothing to close, no display): the input on top, then the boxes of
    `boxes(table)`, joined by arrows."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch

    items = [Box("input", format_shape(table.input_shape), "input"), *boxes(table, max_boxes)]
    step, height = 0.62, 0.5                                   # inches per box, box height
    figure = Figure(figsize=(4.6, 0.7 + step * len(items)))
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, 4.6)
    axes.set_ylim(-(0.7 + step * len(items)), 0)
    axes.axis("off")
    for index, item in enumerate(items):
        top = -0.45 - index * step
        axes.add_patch(FancyBboxPatch((0.3, top - height), 4.0, height, boxstyle="round,pad=0.02,rounding_size=0.08",
                                      facecolor=COLOURS[item.role], edgecolor="#555555", linewidth=0.8))
        axes.text(2.3, top - 0.17, item.title, ha="center", va="center", fontsize=8.5, fontweight="bold")
        axes.text(2.3, top - 0.36, item.detail, ha="center", va="center", fontsize=7.5, color="#333333")
        if index:
            axes.annotate("", xy=(2.3, top + 0.005), xytext=(2.3, top + step - height - 0.005),
                          arrowprops={"arrowstyle": "-|>", "color": "#555555", "lw": 0.8})
    axes.text(2.3, -0.2, f"{table.model_name} ({table.framework}): {table.total_parameters:,} parameters",
              ha="center", va="center", fontsize=9)
    return figure


def save_diagram(table: LayerTable, path, max_boxes: int = MAX_BOXES, dpi: int = 120):
    """Draw and save as PNG (or any format matplotlib knows from the suffix); returns the path."""
    figure = draw_diagram(table, max_boxes)
    atomic_write(path, lambda temporary: figure.savefig(temporary, dpi=dpi))  # the format comes from the suffix
    return path
