"""What each row's model is made of, for the report: a compact layer table (kept in results.json), every layer in
`architecture/<row id>.txt`, and the block diagram in `figures/architecture_<row id>.png` (shared/architecture).

The compact table lists the layers down to depth 2 (a PyTorch block and what it holds) when they are at most
MAX_ROWS; a longer model (a pretrained backbone, or a flat Keras model of a hundred layers) is listed one line per
stage instead, the stages the diagram draws.
"""
from __future__ import annotations

from pathlib import Path

from shared.architecture.diagram import save_diagram, stage_summary, stages
from shared.architecture.table import LayerTable, format_shape, layer_table
from shared.atomic import write_text

MAX_ROWS = 30
MAX_DEPTH = 2


def compact_rows(table: LayerTable) -> tuple[list[dict], bool]:
    """(lines of the compact table, whether they are stages rather than layers)."""
    listed = [row for row in table.rows if row.depth <= MAX_DEPTH]
    if len(listed) <= MAX_ROWS:
        return [{"depth": row.depth, "name": row.name, "kind": row.kind, "output_shape": format_shape(row.output_shape),
                 "parameters": row.parameters} for row in listed], False
    lines = []
    for group in stages(table):
        single = len(group) == 1
        lines.append({"depth": 1, "name": group[0].name if single else f"{group[0].name} … {group[-1].name}",
                      "kind": group[0].kind if single else stage_summary(group),
                      "output_shape": format_shape(group[-1].output_shape),
                      "parameters": sum(row.parameters for row in group)})
    return lines, True


def describe(model, framework: str, input_shape, row_id: str, out_dir: Path) -> tuple[dict, str]:
    """The row's "architecture" field of results.json, and the diagram's path (relative to out_dir)."""
    table = layer_table(model, framework, tuple(input_shape))
    lines, grouped = compact_rows(table)
    text = f"architecture/{row_id}.txt"
    write_text(out_dir / text, table.text())
    diagram = f"figures/architecture_{row_id}.png"
    save_diagram(table, out_dir / diagram)
    return {"model_name": table.model_name, "framework": framework, "input_shape": list(table.input_shape),
            "total_parameters": table.total_parameters, "trainable_parameters": table.trainable_parameters,
            "layer_count": len(table.rows), "grouped": grouped, "layers": lines, "all_layers": text}, diagram
