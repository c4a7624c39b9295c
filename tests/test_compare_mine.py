"""`workbook compare --mine` with untouched stubs: the learner's rows are skipped with a reason, the report
is still written. The stubs come from a fresh release into a temporary directory, so edits in weeks/ do not matter."""
from __future__ import annotations

import json

import pytest

from shared.cli import main
from shared.release import release


@pytest.mark.timeout(120)
def test_mine_with_stubs_skips_and_still_reports(tmp_path, monkeypatch):
    stubs = tmp_path / "weeks"
    release(dest=stubs)
    monkeypatch.setenv("WORKBOOK_TARGET", str(stubs))
    out = tmp_path / "out"
    code = main(["compare", "--size", "300", "--image-size", "16", "--epochs", "1", "--latency-repeats", "3",
                 "--no-progress", "--models", "cnn", "--frameworks", "torch", "--mine", "--out", str(out)])
    assert code == 0
    rows = {row["id"]: row for row in json.loads((out / "results.json").read_text())["rows"]}
    assert rows["cnn-torch-reference"]["status"] == "ok"
    mine = rows["cnn-torch-mine"]
    assert mine["status"] == "skipped" and "NotImplementedError" in mine["reason"], mine
    assert "week2/cnn.py" in mine["reason"]
    assert "skipped" in (out / "report.md").read_text() and (out / "report.html").exists()
