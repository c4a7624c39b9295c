"""What a comparison run trains on and for how long: one dataclass; the CLI is one override layer on top."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

FRAMEWORKS = ("torch", "keras")
DEFAULT_MODELS = ("cnn", "lstm", "resnet_cnn", "transfer_lite0")  # week 2, week 3, week 4 (offline backbone)


@dataclass
class CompareConfig:
    dataset: str = "shapes"           # a name shared.data.check_name accepts (shapes, cifar10, folder:PATH, ...)
    size: int = 4000                  # images in total before the train/val/test split (None: the whole dataset)
    image_size: int | None = None     # square side fed to the models; None: the dataset's own (shapes: 32)
    models: tuple[str, ...] = DEFAULT_MODELS
    frameworks: tuple[str, ...] = FRAMEWORKS
    epochs: int = 8                   # the same for every row: fairness by construction
    seed: int = 0                     # one seed for the split, the weight init and the shuffling of every row
    batch_size: int = 64              # default; a row's recipe may override it (the report says so)
    learning_rate: float = 1e-3       # default for Adam; a row's recipe may override it (the report says so)
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

    def as_dict(self) -> dict:
        values = asdict(self)
        values["out"] = str(self.out) if self.out else None
        values["models"], values["frameworks"] = list(self.models), list(self.frameworks)
        values["data_efficiency"] = list(self.data_efficiency)
        return values


QUICK = {"size": 1200, "epochs": 2, "latency_repeats": 5, "data_efficiency": ()}  # --quick: under 3 minutes on 2 cores, for CI


def check_choices(option: str, values, choices) -> tuple[str, ...]:
    """Every value must be one of `choices`, else ValueError naming the valid ones."""
    unknown = [value for value in values if value not in choices]
    if unknown:
        given, valid = ", ".join(map(repr, unknown)), ", ".join(sorted(choices))
        raise ValueError(f"unknown {option} {given}; valid choices: {valid}.")
    return tuple(values)
