"""How often does the "unlike the training images" signal (shared/ood.py) fire, on the images it should and should not?

    .venv/bin/python bench/ood_signal.py                                  # shapes only, offline, ~10 s
    .venv/bin/python bench/ood_signal.py --photos /tmp/cifar10/train      # + real photos (CIFAR-10 as a folder)
    .venv/bin/python bench/ood_signal.py --dry-run                        # a quick check that it runs

Training statistics are computed as `workbook compare` computes them for a checkpoint (training_stats on the
training images), then the share of images flagged as unlike them is counted: held-out images of the same
dataset (should be about 0.5%), another dataset, random noise and flat colours (should be near 100%). With
--photos (an image folder: <class>/<images>, e.g. CIFAR-10's training set unpacked), a photo-trained summary is
measured the same way against `shapes`. `--out FILE.md` writes the table (bench/results/ood_signal.md).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.data import load_dataset  # noqa: E402
from shared.images import image_pixels  # noqa: E402
from shared.ood import THRESHOLD_QUANTILE, training_stats  # noqa: E402


def photos(folder: Path, count: int, seed: int) -> np.ndarray:
    files = sorted(p for p in folder.glob("*/*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if len(files) < count:
        raise SystemExit(f"{folder} has {len(files)} images, fewer than the {count} needed")
    chosen = np.random.default_rng(seed).choice(len(files), count, replace=False)
    return np.stack([image_pixels(files[i], size=32) for i in chosen])


def flagged(stats, images: np.ndarray) -> str:
    return f"{100 * float((stats.distances(images) > stats.threshold).mean()):.1f}% of {len(images)}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, help="an image folder of photos (<class>/<image>), e.g. CIFAR-10")
    parser.add_argument("--train", type=int, default=2000, help="training images summarised")
    parser.add_argument("--test", type=int, default=1000, help="images tested per set")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--dry-run", action="store_true", help="200 training and 100 test images")
    args = parser.parse_args(argv)
    if args.dry_run:
        args.train, args.test = 200, 100
    rng = np.random.default_rng(0)
    shapes = load_dataset("shapes", size=int((args.train + args.test) / 0.8) + 10, image_size=32, seed=1,
                          progress=False)
    train, test = shapes.train.images[:args.train], shapes.test.images[:args.test]
    if len(test) < args.test:
        test = np.concatenate([test, shapes.val.images])[:args.test]
    noise = rng.integers(0, 256, (100, 32, 32, 3), dtype=np.uint8)
    flat = np.broadcast_to(rng.integers(0, 256, (100, 1, 1, 3), dtype=np.uint8), (100, 32, 32, 3)).copy()
    stats = training_stats(train)
    rows = [("shapes", "shapes (held out)", flagged(stats, test)), ("shapes", "random noise", flagged(stats, noise)),
            ("shapes", "flat colours", flagged(stats, flat))]
    if args.photos:
        pictures = photos(args.photos, args.train + args.test, seed=0)
        rows.insert(1, ("shapes", "photos", flagged(stats, pictures[:args.test])))
        photo_stats = training_stats(pictures[args.test:])
        rows += [("photos", "photos (held out)", flagged(photo_stats, pictures[:args.test])),
                 ("photos", "shapes", flagged(photo_stats, test))]
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    lines = [f"Flagged as unlike the training images (distance above the {100 * THRESHOLD_QUANTILE:g}% quantile of "
             f"the training images' own, {args.train} training images per summary, 32x32):", "",
             "| trained on | images tested | flagged |", "|---|---|---|",
             *(f"| {a} | {b} | {c} |" for a, b, c in rows), "", f"{os.cpu_count()} CPUs; {load}"]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
