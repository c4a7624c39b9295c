"""Week 2 · The recipe (no exercise to fill in): how `workbook compare` trains this week's models, in both frameworks.

A recipe is every choice besides the model: optimizer, learning rate and its schedule, epochs, batch size.
Each number lives once, in `Recipe`, and both twins read it: training.py's `train_with_adam` (PyTorch) and
keras_cnn.py's `train_keras` (Keras). So the two frameworks cannot drift apart, and the comparison report
states this recipe from the same object (`Recipe.facts`).

- Adam with PyTorch's epsilon, 1e-8 (Keras' default is 1e-7).
- The learning rate changes after every batch: it rises linearly from 0 to its peak over the first quarter of
  the steps (warm-up), then falls towards 0 along a half cosine. Week 3 explains schedules; here it is what lets
  8 epochs reach about 90 % on `shapes`, where a constant 1e-3 stalls near 55 %.
- Keras has this schedule built in (`keras.optimizers.schedules.CosineDecay` with `warmup_target`);
  `learning_rates` is the same formula in plain Python, which PyTorch follows through a LambdaLR.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Recipe:
    epochs: int = 8
    batch_size: int = 64
    learning_rate: float = 3e-3       # the peak of the schedule
    warmup_fraction: float = 0.25     # share of the steps spent rising from 0 to the peak
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_epsilon: float = 1e-8        # PyTorch's default; Keras' would be 1e-7

    def warmup_steps(self, total_steps: int) -> int:
        return min(round(self.warmup_fraction * total_steps), total_steps - 1)

    def facts(self) -> dict:
        """The recipe as the comparison report states it (the keys of shared/compare/recipe.py; the report reads
        dropout and the input from the model and its data)."""
        return {"optimizer": f"Adam (betas {self.adam_betas[0]}, {self.adam_betas[1]}; epsilon {self.adam_epsilon:g})",
                "learning_rate": self.learning_rate,
                "schedule": f"per batch: linear warm-up from 0 over {self.warmup_fraction:.0%} of the steps, "
                            f"then cosine towards 0",
                "augmentation": "none", "weight_decay": 0.0, "label_smoothing": 0.0,
                "epochs": self.epochs, "batch_size": self.batch_size}


RECIPE = Recipe()


def learning_rates(peak: float, total_steps: int, recipe: Recipe = RECIPE) -> list[float]:
    """The learning rate of each step 0 .. total_steps - 1: from 0 linearly up to `peak` over the warm-up steps,
    then peak * (1 + cos(pi * t)) / 2 with t going from 0 towards 1 (Keras' CosineDecay, warm-up included).

    >>> [round(lr, 3) for lr in learning_rates(1.0, 8)]
    [0.0, 0.5, 1.0, 0.933, 0.75, 0.5, 0.25, 0.067]
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be at least 1, got {total_steps}")
    warmup = recipe.warmup_steps(total_steps)
    decay = total_steps - warmup
    return [peak * step / warmup if step < warmup else peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / decay))
            for step in range(total_steps)]
