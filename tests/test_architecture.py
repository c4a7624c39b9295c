"""Layer tables and block diagrams (shared/architecture): the same facts from torchinfo and from Keras."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from shared.architecture.diagram import MAX_BOXES, boxes, save_diagram
from shared.architecture.table import LayerRow, LayerTable, layer_table
from shared.registry import create_model

SHAPE = (32, 32, 3)


@pytest.fixture(scope="module")
def twins():
    torch.manual_seed(0)
    return (create_model("cnn", num_classes=10, input_shape=SHAPE),
            create_model("cnn", "keras", num_classes=10, input_shape=SHAPE))


def test_torch_table_counts_every_parameter_and_leaves_the_model_alone(twins):
    model = twins[0].train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    table = layer_table(model, "torch", SHAPE)
    assert model.training, "layer_table must restore train mode"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), \
        "the forward pass must not update BatchNorm's running statistics (run it in eval mode)"
    assert table.total_parameters == sum(p.numel() for p in model.parameters())
    rows = {row.name: row for row in table.rows}
    assert rows["features.0.0"].output_shape == (32, 32, 32)          # (C, H, W): same padding keeps 32 x 32
    assert rows["features.0"].output_shape == (32, 16, 16)            # the block ends with a 2 x 2 pooling
    assert rows["features"].parameters == sum(p.numel() for p in model.features.parameters())
    leaves = [row for row in table.rows if row.leaf]
    assert sum(row.parameters for row in leaves) == table.total_parameters


def test_keras_table_matches_the_torch_twin(twins):
    torch_table, keras_table = layer_table(twins[0], "torch", SHAPE), layer_table(twins[1], "keras")
    assert keras_table.input_shape == SHAPE and torch_table.input_shape == (3, 32, 32)
    assert keras_table.total_parameters == twins[1].count_params()
    assert keras_table.trainable_parameters == torch_table.trainable_parameters   # BN statistics aside, the same
    convs = [row.output_shape for row in keras_table.rows if row.kind == "Conv2D"]
    torch_convs = [row.output_shape for row in torch_table.rows if row.kind == "Conv2d"]
    assert convs == [(h, w, c) for c, h, w in torch_convs]                        # same maps, channels last


def test_markdown_and_text_list_each_layer(twins):
    table = layer_table(twins[1], "keras")
    markdown, text = table.markdown(), table.text()
    assert markdown.count("\n| ") == len(table.rows) + 1 and "| layer | type | output shape | parameters |" in markdown
    assert "357,034 trainable" in markdown and "Conv2D" in text and "8 x 8 x 128" in text
    assert layer_table(twins[0], "torch", SHAPE).markdown(max_depth=1).count("\n| `") == 2   # features, classifier
    with pytest.raises(ValueError, match="input_shape"):
        layer_table(twins[0], "torch")


def test_diagram_draws_a_box_per_layer_or_per_stage(twins, tmp_path):
    table = layer_table(twins[0], "torch", SHAPE)
    drawn = boxes(table)
    assert [box.title for box in drawn][:4] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"] and len(drawn) == 18
    path = save_diagram(table, tmp_path / "cnn.png")
    from PIL import Image

    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape[0] > image.shape[1] > 300 and (image < 250).any()     # a tall figure with something drawn
    long = LayerTable("keras", "deep", (32, 32, 3), [
        LayerRow(1, f"layer{i}", "Conv2D", (32 // 2 ** (i // 10), 32 // 2 ** (i // 10), 8), 10, 10)
        for i in range(40)] + [LayerRow(1, "head", "Dense", (10,), 90, 90)])
    stages = boxes(long)
    assert len(stages) == 5 <= MAX_BOXES and stages[0].title == "10 layers: 10 conv"
    assert stages[0].detail == "32 x 32 x 8 · 100 params" and stages[-1].title == "Dense"
