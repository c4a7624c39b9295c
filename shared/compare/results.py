"""results.json: write it, read it, and check it against results.schema.json (shipped next to this file)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from shared.atomic import write_text

SCHEMA_PATH = Path(__file__).with_name("results.schema.json")
SCHEMA_VERSION = 2  # 2: seeds and spread, recipe facts, verdict


def _plain(value):
    """numpy scalars and arrays -> Python numbers and lists (json cannot write numpy types); NaN -> null."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def validate(results: dict) -> None:
    """Raise jsonschema.ValidationError if `results` does not match the schema."""
    import jsonschema

    jsonschema.validate(results, json.loads(SCHEMA_PATH.read_text()))


def write_results(results: dict, path: Path) -> dict:
    results = _plain(results)
    validate(results)
    write_text(path, json.dumps(results, indent=2) + "\n")
    return results
