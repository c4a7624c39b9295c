"""One image explained for a reader: what the API's `gradcam` answer and the report's figures are made of.

    answer = explain(entry, model, pixels, image, class_names)
    # {"class_index": 3, "label": "cat", "layer": "features.2.2", "overlay": "data:image/png;base64,...",
    #  "empty": False}       # empty: no pixel raised the class's score (the overlay shows the bare image)

`pixels` is the prepared image the model sees (float32 (H, W, C), normalised); `image` is what the reader sees
(the upload, any size, uint8 or PIL): the heatmap is stretched back onto it, as the preparation stretched it.
GradCamUnavailable (a ValueError) says, in a sentence, why a model has no heatmap (the LSTM, a layer that is
not there); the API answers it as `gradcam_error` next to the predictions.
"""
from __future__ import annotations

from shared.interpret.gradcam import gradcam, layer_for
from shared.interpret.overlay import data_url, overlay_png


def layer_name(model, layer, framework: str) -> str:
    """The layer as a reader finds it: torch, its dotted path in named_modules(); keras, its name."""
    if framework == "keras":
        return layer.name
    return next((name for name, module in model.named_modules() if module is layer), type(layer).__name__)


def explain(entry, model, pixels, image, class_names: list[str], class_index: int | None = None) -> dict:
    """Grad-CAM of `pixels` for `class_index` (default: the prediction), drawn over `image` as a PNG data URL."""
    layer = layer_for(entry, model)
    cam = gradcam(model, pixels, layer, entry.framework, class_index)
    return {"class_index": cam.class_index, "label": class_names[cam.class_index],
            "layer": layer_name(model, layer, entry.framework), "overlay": data_url(overlay_png(image, cam.heatmap)),
            "empty": not bool(cam.heatmap.any())}
