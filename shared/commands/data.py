"""`workbook data`: list, inspect, download and preview the datasets of shared/data."""
from __future__ import annotations

import sys
from pathlib import Path

DESCRIPTIONS = {
    "shapes": "generated offline: 10 shapes on textured, cluttered backgrounds, 32x32 RGB (any size)",
    "cifar10": "CIFAR-10: 60,000 32x32 colour photos in 10 classes (downloads 163 MB once)",
    "cifar100": "CIFAR-100: 60,000 32x32 colour photos in 100 classes (downloads 161 MB once)",
    "cifar100-coarse": "CIFAR-100's images labelled with its 20 superclasses (the same download as cifar100)",
    "fashion-mnist": "Fashion-MNIST: 70,000 28x28 grayscale clothing images in 10 classes (downloads 30 MB once)",
    "folder:PATH": "your own images: PATH/train/<class>/*, optional val/ and test/",
}


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="list, inspect, download and preview datasets")
    commands = parser.add_subparsers(title="data commands", metavar="ACTION")

    def add(name: str, help_text: str, handler, with_name: bool = True):
        sub = commands.add_parser(name, help=help_text)
        if with_name:
            sub.add_argument("name", help="shapes, cifar10, cifar100, cifar100-coarse, fashion-mnist or folder:PATH")
        sub.add_argument("--data-dir", default=None,
                         help="where datasets and caches live (default: $WORKBOOK_DATA_DIR or ~/.cache/workbook/data)")
        sub.set_defaults(handler=handler)
        return sub

    add("list", "the datasets you can load, and whether each is available offline", run_list, with_name=False)
    info = add("info", "class counts, image size, split sizes and where the data is cached", run_info)
    download = add("download", "download a dataset into the data directory and check its checksums", run_download)
    preview = add("preview", "write a PNG grid of labelled training samples", run_preview)
    for sub in (info, preview):
        sub.add_argument("--size", type=int, default=None, help="shapes: images generated (default 10,000)")
        sub.add_argument("--image-size", type=int, default=None, help="height = width in pixels")
        sub.add_argument("--seed", type=int, default=0)
    preview.add_argument("--out", default=None, help="the PNG to write (default: reports/data-<name>.png)")
    preview.add_argument("--per-class", type=int, default=8, help="samples per class (columns)")
    parser.set_defaults(handler=lambda args: parser.print_help() or 0)


def _fail(error: Exception) -> int:
    print(f"error: {error}", file=sys.stderr)
    return 1


def run_list(args) -> int:
    from shared import paths
    from shared.data import downloads

    root = paths.data_dir(args.data_dir)
    print(f"data directory: {root}")
    for name, text in DESCRIPTIONS.items():
        state, detail = downloads.status(name, root) if downloads.is_remote(name) else ("offline", "")
        print(f"  {name:<16} [{state}] {text}")
        if detail:
            print(f"  {'':<16} {detail}")
    return 0


def run_info(args) -> int:
    from shared import paths
    from shared.data import check_name, downloads, load_dataset

    try:
        check_name(args.name)
        root = paths.data_dir(args.data_dir)
        if downloads.is_remote(args.name) and not downloads.is_downloaded(args.name, root):
            shape, (n_train, n_test) = downloads.IMAGE_SHAPES[args.name], downloads.SPLIT_SIZES[args.name]
            print(f"{args.name}: not downloaded yet (run `workbook data download {args.name}`)")
            print(f"  classes ({len(downloads.CLASS_NAMES[args.name])}): {', '.join(downloads.CLASS_NAMES[args.name])}")
            print(f"  image size: {'x'.join(map(str, shape))}; official splits: train {n_train}, test {n_test}")
            print(f"  will be stored in: {downloads.dataset_dir(args.name, root)}")
            return 0
        if args.name in downloads.SOURCES:
            state, detail = downloads.status(args.name, root)
            print(f"{args.name}: {state}" + (f": {detail}" if detail else ""))
        dataset = load_dataset(args.name, size=args.size, image_size=args.image_size, seed=args.seed,
                               data_dir=args.data_dir)
    except (ValueError, downloads.DatasetUnavailable) as error:
        return _fail(error)
    print(describe(dataset))
    return 0


def describe(dataset) -> str:
    h, w, c = dataset.image_shape
    lines = [f"{dataset.name}: {dataset.num_classes} classes, images {h}x{w}x{c} uint8",
             f"  stored in: {dataset.source}",
             f"  splits: train {len(dataset.train)}, val {len(dataset.val)}, test {len(dataset.test)}",
             f"  normalisation (train only): mean {_fmt(dataset.mean)}, std {_fmt(dataset.std)}",
             f"  {'class':<16}{'train':>7}{'val':>7}{'test':>7}"]
    counts = {k: s.class_counts(dataset.num_classes) for k, s in dataset.splits().items()}
    for i, name in enumerate(dataset.class_names):
        lines.append(f"  {name:<16}{counts['train'][i]:>7}{counts['val'][i]:>7}{counts['test'][i]:>7}")
    lines += [f"  note: {note}" for note in dataset.notes]
    return "\n".join(lines)


def _fmt(values) -> str:
    return "(" + ", ".join(f"{v:.4f}" for v in values) + ")"


def run_download(args) -> int:
    from shared import paths
    from shared.data import check_name, downloads

    try:
        check_name(args.name)
        if not downloads.is_remote(args.name):
            print(f"{args.name} needs no download: it is generated or read from your folder.")
            return 0
        root = paths.data_dir(args.data_dir)
        for path in downloads.download(args.name, root):
            print(f"ok  {path}")
        downloads.load_arrays(args.name, root)
    except (ValueError, downloads.DatasetUnavailable) as error:
        return _fail(error)
    print(f"{args.name} is ready in {downloads.dataset_dir(args.name, root)}")
    return 0


def run_preview(args) -> int:
    from shared.data import check_name, downloads, load_dataset
    from shared.data.preview import preview_grid
    from shared.paths import REPO_ROOT

    try:
        check_name(args.name)
        dataset = load_dataset(args.name, size=args.size, image_size=args.image_size, seed=args.seed,
                               data_dir=args.data_dir)
    except (ValueError, downloads.DatasetUnavailable) as error:
        return _fail(error)
    safe = args.name.replace(":", "-").replace("/", "_").strip("_-")
    out = Path(args.out) if args.out else REPO_ROOT / "reports" / f"data-{safe}.png"
    preview_grid(dataset, out, per_class=args.per_class, seed=args.seed)
    print(f"wrote {out}")
    return 0
