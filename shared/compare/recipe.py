"""The row recipe: how one registered model is trained in the comparison, and the statement the report makes of it.

A model joins the report by being registered (`shared/registry.py`) with a trainer and a recipe in its `info`:

    @register_model("cnn", framework="torch", trainer=train_cnn, recipe=RECIPE.facts(dropout=0.3),
                    description="3 conv blocks (conv-BN-ReLU-pool), dropout, 2 dense")

- `trainer` (required for a row): `trainer(model, train, val, *, epochs, learning_rate, seed, device, progress)
  -> history` (the history format of AUTHORING.md). `train`/`val` are torch DataLoaders or tf.data Datasets
  built with this row's input spec and batch size. It must leave in `model` the weights to evaluate (the best
  validation epoch). A learner's row (--mine) uses the trainer its own module registers. A PyTorch row's progress
  bar moves with each batch the trainer draws from `train`; a trainer that goes through `train` once and then
  trains on what it cached calls `train.advance()` after each step, where `train` has it (week 4's cached
  transfer). Keras rows show Keras's own bars (`progress` is passed on as verbose).
- `recipe`: what the trainer does, one fact per key of FACTS, written from the same objects the trainer reads,
  so that the statement cannot drift from the training. `epochs`, `batch_size` and `learning_rate` are also
  what compare passes to the trainer (unless the command line overrides them for every row).
- `preprocessing`: a `shared.data.Preprocessing` the backbone owns (size, mean, std); it replaces the dataset's
  train statistics for this row, and sets the input shape the model is built for (shared.data.input_spec).
- `description`: one line shown in the report.
The report groups rows whose recipes agree on every fact, and names the facts in which twins differ.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from shared.compare.config import CompareConfig

# The facts of a recipe, in the order the statement gives them, with how each is written.
FACTS = ("optimizer", "learning_rate", "schedule", "augmentation", "weight_decay", "label_smoothing", "dropout",
         "epochs", "batch_size", "input", "other")
DEFAULT_EPOCHS, DEFAULT_BATCH_SIZE, DEFAULT_LEARNING_RATE = 8, 64, 1e-3   # for a registration without a recipe


@dataclass
class Recipe:
    description: str = ""
    preprocessing: object | None = None     # shared.data.Preprocessing, or None: the dataset's own mean/std
    trainer: Callable | None = None
    learning_rate: float = DEFAULT_LEARNING_RATE
    batch_size: int = DEFAULT_BATCH_SIZE
    epochs: int = DEFAULT_EPOCHS
    facts: dict = field(default_factory=dict)  # FACTS -> value, as the row's registration declares them
    overrides: tuple[str, ...] = ()         # what the command line changed for every row


def recipe_for(info: dict, config: CompareConfig) -> Recipe:
    """The recipe of a registry entry's `info`, with the run's overrides (--epochs, --batch-size, --learning-rate)."""
    declared = dict(info.get("recipe") or {})
    if not declared:  # an older or hand-written registration: only what it names, the rest unknown
        declared = {"learning_rate": info.get("learning_rate", info.get("lr", DEFAULT_LEARNING_RATE)),
                    "batch_size": info.get("batch_size", DEFAULT_BATCH_SIZE), "epochs": DEFAULT_EPOCHS,
                    "optimizer": "not declared (the registration has no recipe)"}
    overrides = []
    for key, value in (("epochs", config.epochs), ("batch_size", config.batch_size),
                       ("learning_rate", config.learning_rate)):
        if value is not None and value != declared.get(key):
            overrides.append(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}")
            declared[key] = value
    return Recipe(description=str(info.get("description", "")), preprocessing=info.get("preprocessing"),
                  trainer=info.get("trainer"), learning_rate=float(declared["learning_rate"]),
                  batch_size=int(declared["batch_size"]), epochs=int(declared["epochs"]), facts=declared,
                  overrides=tuple(overrides))


def describe_input(spec, image_shape, preprocessing) -> str:
    """How images reach the model: size, channels, scaling and normalisation (from the row's InputSpec)."""
    height, width, channels = (int(v) for v in image_shape)
    text = f"{spec.height}x{spec.width}"
    if (spec.height, spec.width) != (height, width):
        text += f" (resized from {height}x{width})"
    text += f", {spec.channels} channel{'s' if spec.channels > 1 else ''}"
    if spec.channels != channels:
        text += f" (the {channels} grey channel repeated)"
    source = "the backbone's" if preprocessing is not None else "the training split's"
    mean = ", ".join(f"{v:.3g}" for v in spec.mean)
    std = ", ".join(f"{v:.3g}" for v in spec.std)
    return f"{text}, pixels scaled to [0, 1] then normalised with {source} mean ({mean}) and std ({std})"


def row_facts(recipe: Recipe, input_text: str) -> dict:
    """Every fact of FACTS for one row (unknown ones say so), as results.json keeps them."""
    facts = {key: recipe.facts.get(key, "not declared") for key in FACTS}
    facts.update(learning_rate=recipe.learning_rate, batch_size=recipe.batch_size, epochs=recipe.epochs,
                 input=input_text)
    if facts["other"] == "not declared":
        facts["other"] = ""
    return facts


# ---- the statement ------------------------------------------------------------------------------------------

def _value(key: str, value) -> str:
    if key == "learning_rate":
        return f"learning rate {value:g}"
    if key in ("weight_decay", "label_smoothing", "dropout"):
        name = key.replace("_", " ")
        if value in (0, 0.0, "0"):
            return f"no {name}"
        return f"{name} {value:g}" if isinstance(value, (int, float)) else f"{name} {value}"
    if key == "augmentation":
        return "no augmentation" if value == "none" else f"augmentation: {value}"
    if key == "epochs":
        return f"{value} epoch{'s' if value != 1 else ''}"
    if key == "batch_size":
        return f"batch size {value}"
    if key == "input":
        return f"input {value}"
    return str(value)


def display(key: str, value) -> str:
    """One fact as a table cell: "none" for a regulariser at 0, numbers without trailing zeros."""
    if key in ("weight_decay", "label_smoothing", "dropout") and value in (0, 0.0, "0"):
        return "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def describe(facts: dict, keys=FACTS) -> str:
    return "; ".join(_value(key, facts[key]) for key in keys if facts.get(key) not in ("", None))


def group_rows(rows: list[dict]) -> list[tuple[list[str], dict]]:
    """[(labels of rows with identical recipes, their facts)], in the order the rows come."""
    from shared.compare.table import row_label

    groups: list[tuple[list[str], dict]] = []
    for row in rows:
        facts = row["recipe"]["facts"]
        for labels, shared in groups:
            if shared == facts:
                labels.append(row_label(row))
                break
        else:
            groups.append(([row_label(row)], facts))
    return groups


def _twin_differences(rows: list[dict]) -> list[str]:
    """Sentences naming the facts in which rows of the same model differ between frameworks."""
    from shared.compare.table import row_label

    sentences = []
    by_model: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        by_model.setdefault((row["model"], row["impl"]), []).append(row)
    for (model, _), twins in by_model.items():
        for other in twins[1:]:
            first = twins[0]
            keys = [k for k in FACTS if first["recipe"]["facts"].get(k) != other["recipe"]["facts"].get(k)]
            if keys:
                parts = [f"{k.replace('_', ' ')}: {display(k, first['recipe']['facts'].get(k))} vs "
                         f"{display(k, other['recipe']['facts'].get(k))}" for k in keys]
                sentences.append(f"{row_label(first)} and {row_label(other)} differ in: {'; '.join(parts)}.")
    return sentences


def statement(rows: list[dict], dataset: dict, config: CompareConfig) -> dict:
    """The recipe statement of a run: what every row shares, then each group of rows with one recipe, and the
    differences between twins. {"common": str, "groups": [{"rows", "recipe" (a sentence), "facts" (fact -> cell)}],
    "differences": [...]}"""
    measured = [row for row in rows if row.get("status") == "ok"]
    seeds = ", ".join(map(str, config.seeds))
    common = (f"Every row trains on the same {dataset['num_train']:,} images and is validated on the same "
              f"{dataset['num_val']:,} ({dataset['name']}, split with data seed {config.data_seed}); training seed"
              f"{'s' if len(config.seeds) > 1 else ''} {seeds} set{'s' if len(config.seeds) == 1 else ''} the initial "
              f"weights, the batch order (the same order in both frameworks) and dropout; every row is tested on the "
              f"same {dataset['num_test']:,} held-out images with the weights of its best validation epoch.")
    groups = group_rows(measured)
    shared_keys = [k for k in FACTS if groups and all(g[1].get(k) == groups[0][1].get(k) for g in groups)]
    if len(groups) > 1 and shared_keys:
        common += f" All rows share: {describe(groups[0][1], shared_keys)}."
    own_keys = [k for k in FACTS if k not in shared_keys] if len(groups) > 1 else list(FACTS)
    if config.epochs or config.batch_size or config.learning_rate:
        overrides = measured[0]["recipe"]["overrides"] if measured else []
        common += f" The command line set {', '.join(overrides)} for every row." if overrides else ""
    common += _parallel_sentence(measured, config)
    return {"common": common,
            "groups": [{"rows": labels, "recipe": describe(facts, own_keys),
                        "facts": {key: display(key, facts[key]) for key in own_keys if facts.get(key) not in ("", None)}}
                       for labels, facts in groups],
            "differences": _twin_differences(measured)}


def _parallel_sentence(measured: list[dict], config: CompareConfig) -> str:
    """With --nproc N: which rows trained on N data-parallel ranks, with which per-rank and effective batch."""
    if config.nproc <= 1:
        return ""
    spread = [row for row in measured if row.get("parallel", {}).get("world_size", 1) > 1]
    alone = [row["id"] for row in measured if row not in spread]
    said = "; ".join(f"{row['id']} on {row['parallel']['world_size']} ranks ({row['parallel']['backend']}), "
                     f"{row['parallel']['per_rank_batch']} images per rank per step, effective batch "
                     f"{row['parallel']['effective_batch']}" for row in spread)
    return (f" Data parallel (--nproc {config.nproc}): {said or 'no row'}" + (
        f"; on one process: {', '.join(alone)}" if alone else "") + ". BatchNorm normalises each rank's share.")


def statement_text(recipes: dict) -> str:
    """The statement as one paragraph of plain text (results.json's `fairness`)."""
    parts = [recipes["common"]] + [f"{' and '.join(g['rows'])}: {g['recipe']}." for g in recipes["groups"]]
    return " ".join(parts + recipes["differences"])
