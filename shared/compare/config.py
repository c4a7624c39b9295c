"""What a comparison run trains on and for how long: one dataclass; the CLI is one override layer on top.

How each model is trained (optimizer, schedule, epochs, batch size, ...) is its own recipe, declared where the
model is registered (shared/compare/recipe.py). The run decides the data, the seeds and what is measured; its
`epochs`, `batch_size` and `learning_rate` are None unless asked for, and then override every row's recipe.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

FRAMEWORKS = ("torch", "keras")
# Week 2, week 3, week 4 (offline backbone). The week-2 LSTM is not a default row: on `shapes` it stays under
# 50 % (rows of raw colour values say little about a shape anywhere in the frame); see LSTM_NOTE.
DEFAULT_MODELS = ("cnn", "resnet_cnn", "transfer_lite0")
LSTM_NOTE = ("The week-2 LSTM (--models lstm) is not a default row: reading a `shapes` image row by row it reaches "
             "only about 45 % here (8,000 training images, 12 to 20 epochs), because a row of raw colour values "
             "means something different wherever the shape, its colour and the background happen to be. On "
             "centred grey images, whose rows mean the same thing in every picture, reading rows makes sense: try "
             "`workbook compare --dataset fashion-mnist --models cnn lstm` (the data is downloaded once).")


@dataclass
class CompareConfig:
    dataset: str = "shapes"           # a name shared.data.check_name accepts (shapes, cifar10, folder:PATH, ...)
    size: int | None = 10000          # images in total before the train/val/test split (None: the whole dataset)
    image_size: int | None = None     # square side fed to the models; None: the dataset's own (shapes: 32)
    models: tuple[str, ...] = DEFAULT_MODELS
    frameworks: tuple[str, ...] = FRAMEWORKS
    seeds: tuple[int, ...] = (0,)     # training seeds (weights, batch order, dropout): every row trains once per seed
    data_seed: int = 0                # the images (shapes), the split and any subset: the same for every seed
    epochs: int | None = None         # None: each row's recipe; a number: every row trains that long
    batch_size: int | None = None     # None: each row's recipe
    learning_rate: float | None = None  # None: each row's recipe (its peak learning rate)
    mine: bool = False                # also run the learner's weeks/ implementations
    out: Path | None = None           # default: reports/<timestamp>/
    latency_repeats: int = 15         # timed repeats for the latency median
    progress: bool = True
    prediction_grid: int = 24         # test images shown per model in the predictions figure
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    nproc: int = 1                    # data-parallel processes per PyTorch row (torch.distributed; 1: this process)
    # Week 4's data-efficiency experiment: training images per class (0: all) for the CNN from scratch and the
    # transfer model, as one plot. Empty: skip it.
    data_efficiency: tuple[int, ...] = (10, 50, 0)

    def __post_init__(self) -> None:
        self.seeds = tuple(int(seed) for seed in self.seeds)
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"--seeds needs at least one seed and no repeats, got {list(self.seeds)}.")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"--epochs must be at least 1, got {self.epochs}.")

    @property
    def seed(self) -> int:
        """The first training seed: the one whose model is saved, timed and drawn in the figures."""
        return self.seeds[0]

    def as_dict(self) -> dict:
        values = asdict(self)
        values["out"] = str(self.out) if self.out else None
        for key in ("models", "frameworks", "seeds", "data_efficiency"):
            values[key] = list(values[key])
        values["seed"] = self.seed
        return values


QUICK = {"size": 1200, "epochs": 2, "latency_repeats": 5, "data_efficiency": ()}  # --quick: a first look, and CI


def check_choices(option: str, values, choices) -> tuple[str, ...]:
    """Every value must be one of `choices`, else ValueError naming the valid ones."""
    unknown = [value for value in values if value not in choices]
    if unknown:
        given, valid = ", ".join(map(repr, unknown)), ", ".join(sorted(choices))
        raise ValueError(f"unknown {option} {given}; valid choices: {valid}.")
    return tuple(values)
