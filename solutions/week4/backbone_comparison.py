"""Week 4 · Demo (no exercise to fill in): several pretrained backbones side by side — accuracy, parameters, latency.

What you will learn
- A bigger backbone is not automatically better for *your* budget: compare accuracy with what it costs
  (parameters, milliseconds per image on your hardware), at the resolution you will actually use.
- Offline by default: EfficientNet-Lite0 in both frameworks (its weights ship with a package). The others
  (torchvision resnet18 / mobilenet_v3_small / efficientnet_b0, keras.applications mobilenetv2 /
  efficientnetb0) are measured when their weight files are cached, and skipped with the reason otherwise.
- The accuracy here is feature extraction (a linear head on cached features): the cheapest fair comparison
  of what the frozen features are worth.

Run it: `python -m solutions.week4.backbone_comparison --dataset shapes --size 1000 --image-size 64`
"""
from __future__ import annotations

import argparse

import numpy as np

from shared.backbones import BACKBONES, OFFLINE, torch_backbones
from shared.timing import latency_ms_per_image

LATENCY_REPEATS = 10


def skip_reason(name: str, framework: str) -> str | None:
    """Why backbone `name` cannot be measured offline (its weight file is not cached), or None if it can."""
    if name in OFFLINE:
        return None
    if framework == "torch":
        import torchvision

        url = torchvision.models.get_model_weights(name).DEFAULT.url
        path = torch_backbones.checkpoint_path(url)
    else:
        from shared.backbones import keras_backbones

        path = keras_backbones.keras_cache_dir() / keras_backbones.APPLICATIONS[name][1]
    return None if path.exists() else f"weights not cached: put them at {path} (needs one download)"


def _torch_row(name: str, dataset, image_size: int) -> dict:
    import torch

    from shared.data.torch_data import make_loader

    from .feature_extraction import extract_features
    from .heads import build_transfer_model

    model, preprocessing = build_transfer_model(dataset.num_classes, name, image_size)
    features = {split: extract_features(model, make_loader(getattr(dataset, split), batch_size=64, train=False,
                                                           mean=dataset.mean, std=dataset.std,
                                                           preprocessing=preprocessing))
                for split in ("train", "test")}
    batch = torch.rand(1, 3, image_size, image_size)
    with torch.inference_mode():
        latency = latency_ms_per_image(model.eval(), batch, 1, repeats=LATENCY_REPEATS)
    return {"features": features, "params": sum(p.numel() for p in model.parameters()), "latency_ms": latency}


def _keras_row(name: str, dataset, image_size: int) -> dict:
    import torch

    from shared.backbones import keras_backbones
    from shared.data.keras_data import make_dataset

    from .keras_transfer import build_keras_transfer

    model, preprocessing = build_keras_transfer(dataset.num_classes, image_size, name)
    extractor = keras_backbones.feature_extractor(model)
    features = {}
    for split in ("train", "test"):
        data = make_dataset(getattr(dataset, split), batch_size=64, train=False, mean=dataset.mean,
                            std=dataset.std, preprocessing=preprocessing)
        values = np.concatenate([np.asarray(extractor(images, training=False)) for images, _ in data])
        features[split] = (torch.from_numpy(values), torch.from_numpy(getattr(dataset, split).labels))
    batch = np.random.default_rng(0).random((1, image_size, image_size, 3), dtype=np.float32)
    latency = latency_ms_per_image(lambda x: model(x, training=False), batch, 1, repeats=LATENCY_REPEATS)
    return {"features": features, "params": int(model.count_params()), "latency_ms": latency}


def measure_backbone(name: str, framework: str, dataset, image_size: int) -> dict:
    """One row: feature-extraction test accuracy, parameters, latency (batch 1), or a skip reason."""
    from .feature_extraction import fit_linear_head

    reason = skip_reason(name, framework)
    if reason:
        return {"backbone": name, "framework": framework, "status": "skipped", "reason": reason}
    measured = (_torch_row if framework == "torch" else _keras_row)(name, dataset, image_size)
    (train_x, train_y), (test_x, test_y) = measured["features"]["train"], measured["features"]["test"]
    head = fit_linear_head(train_x, train_y, dataset.num_classes)
    accuracy = float((head(test_x).argmax(1) == test_y).float().mean())
    return {"backbone": name, "framework": framework, "status": "ok", "test_accuracy": accuracy,
            "params": measured["params"], "latency_ms_batch1": measured["latency_ms"], "image_size": image_size}


def format_table(rows: list[dict]) -> str:
    lines = [f"{'backbone':<20}{'framework':<10}{'accuracy':>9}{'params':>12}{'ms/image':>10}"]
    for row in rows:
        if row["status"] != "ok":
            lines.append(f"{row['backbone']:<20}{row['framework']:<10}  skipped: {row['reason']}")
        else:
            lines.append(f"{row['backbone']:<20}{row['framework']:<10}{row['test_accuracy']:>9.3f}"
                         f"{row['params']:>12,}{row['latency_ms_batch1']:>10.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from shared.data import load_dataset

    parser = argparse.ArgumentParser(description="Compare pretrained backbones (feature extraction).")
    parser.add_argument("--dataset", default="shapes")
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--frameworks", nargs="+", default=["torch", "keras"])
    parser.add_argument("--dry-run", action="store_true", help="lite0 only, 300 images")
    args = parser.parse_args(argv)
    ds = load_dataset(args.dataset, size=300 if args.dry_run else args.size)
    rows = [measure_backbone(name, framework, ds, args.image_size) for framework in args.frameworks
            for name in (["efficientnet_lite0"] if args.dry_run else BACKBONES[framework])]
    print(format_table(rows))


if __name__ == "__main__":
    main()
