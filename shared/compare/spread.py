"""How far a row's test accuracy moves when only the training seed changes: the yardstick for every difference.

With several seeds (`workbook compare --seeds 0 1 2`) a run measures it itself: the standard deviation over its
seeds. A run with one seed has no spread of its own; it takes the one recorded in spread.json (next to this
file) when that was measured for the same row, data and recipe, and says where the figure comes from.
Record it from a several-seed run (entries for other rows or data are kept; the same row, data and recipe is
replaced):

    workbook compare --seeds 0 1 2 --out reports/spread
    python -m shared.compare.spread reports/spread/results.json      # rewrites shared/compare/spread.json

Two rows differ "beyond the spread" when their mean accuracies are further apart than the sum of their two
standard deviations (their mean ± std ranges do not overlap).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from shared.atomic import write_text

SPREAD_PATH = Path(__file__).with_name("spread.json")


def signature(results: dict, row: dict) -> dict:
    """What must match for a recorded spread to apply: the data and the row's whole recipe."""
    data = results["dataset"]
    return {"dataset": data["name"], "num_train": data["num_train"], "num_val": data["num_val"],
            "num_test": data["num_test"], "image_shape": data["image_shape"],
            "data_seed": results["config"].get("data_seed", 0), "recipe": row["recipe"]["facts"]}


def recorded(path: Path = SPREAD_PATH) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def entries(record: dict) -> list[dict]:
    """The recorded rows, each with its id, signature and where it was measured (older files: a dict by id)."""
    rows = record.get("rows", [])
    if isinstance(rows, dict):
        return [{"id": key, **value} for key, value in rows.items()]
    return list(rows)


def spread_for(results: dict, row: dict, record: dict | None = None) -> dict | None:
    """{"test_accuracy_std", "macro_f1_std", "seeds", "source"} for a measured row, or None when unknown."""
    if row.get("test_accuracy_std") is not None:
        return {"test_accuracy_std": row["test_accuracy_std"], "macro_f1_std": row.get("macro_f1_std"),
                "seeds": row["seeds"], "source": f"this run, seeds {', '.join(map(str, row['seeds']))}"}
    record = recorded() if record is None else record
    wanted = signature(results, row)
    entry = next((e for e in entries(record) if e["id"] == row["id"] and e.get("signature") == wanted), None)
    if entry is None:
        return None
    measured, command = entry.get("measured", record.get("measured", "?")), entry.get("command", record.get("command"))
    return {"test_accuracy_std": entry["test_accuracy_std"], "macro_f1_std": entry.get("macro_f1_std"),
            "seeds": entry["seeds"],
            "source": f"shared/compare/spread.json: seeds {', '.join(map(str, entry['seeds']))} of the same data "
                      f"and recipe, measured {measured} with `{command or '?'}`"}


def exceeds(a: dict, b: dict) -> bool | None:
    """Whether rows a and b differ in mean test accuracy by more than the sum of their spreads (None: unknown)."""
    spreads = [row.get("spread") for row in (a, b)]
    if any(spread is None for spread in spreads):
        return None
    return abs(a["test_accuracy"] - b["test_accuracy"]) > sum(s["test_accuracy_std"] for s in spreads)


def record_spread(results: dict, command: str, path: Path = SPREAD_PATH) -> dict:
    """Add the spread of every several-seed row of `results` (a results.json) to `path`: an entry per row, data
    and recipe, with where it was measured; it replaces an entry of the same row, data and recipe, and keeps
    the others (other data, other rows)."""
    env = results["environment"]
    where = {"measured": results["created"], "command": command,
             "environment": f"{env['cpu']}, {env['cpu_count']} cores, load average {env.get('load_average_1min')}"}
    new = [{"id": row["id"], "signature": signature(results, row), "seeds": row["seeds"],
            "test_accuracy": [run["test_accuracy"] for run in row["per_seed"]],
            "test_accuracy_std": row["test_accuracy_std"], "macro_f1_std": row.get("macro_f1_std"), **where}
           for row in results["rows"] if row["status"] == "ok" and row.get("test_accuracy_std") is not None]
    if not new:
        raise ValueError("no row of these results was trained with several seeds (--seeds 0 1 2)")
    old = recorded(path)
    defaults = {key: old[key] for key in ("measured", "command", "environment") if key in old}
    kept = [{**defaults, **entry} for entry in entries(old)
            if not any(entry["id"] == n["id"] and entry.get("signature") == n["signature"] for n in new)]
    record = {"rows": kept + new}
    write_text(path, json.dumps(record, indent=2) + "\n")
    return record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Record the seed spread of a several-seed compare run.")
    parser.add_argument("results", help="results.json of `workbook compare --seeds 0 1 2`")
    parser.add_argument("--out", default=str(SPREAD_PATH))
    args = parser.parse_args(argv)
    results = json.loads(Path(args.results).read_text())
    config = results["config"]
    command = (f"workbook compare --dataset {config['dataset']} --size {config['size']} --seeds "
               f"{' '.join(map(str, config['seeds']))}")
    record = record_spread(results, command, Path(args.out))
    print(f"wrote {args.out}: " + ", ".join(f"{row['id']} ({row['signature']['dataset']}) ± "
                                             f"{100 * row['test_accuracy_std']:.1f}" for row in record["rows"]))


if __name__ == "__main__":
    main()
