"""Bad options fail fast with a sentence that lists the valid choices; nothing is trained."""
from __future__ import annotations

import pytest

from shared.cli import main


@pytest.mark.parametrize("argv, expected", [
    (["--dataset", "imagenet"], ["shapes", "cifar10", "fashion-mnist", "folder:PATH"]),
    (["--dataset", "folder:/nonexistent/dir"], ["not a directory"]),
    (["--models", "resnet9000"], ["cnn", "lstm"]),
    (["--frameworks", "jax"], ["keras", "torch"]),
    (["--epochs", "0"], ["at least 1"]),
])
def test_bad_option_lists_choices(argv, expected, capsys, tmp_path):
    assert main(["compare", *argv, "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("workbook compare: error:")
    for word in expected:
        assert word in error
    assert not (tmp_path / "results.json").exists()


def test_dry_run_lists_rows(capsys):
    assert main(["compare", "--dry-run", "--models", "cnn", "--frameworks", "torch"]) == 0
    assert "cnn-torch-reference: would train" in capsys.readouterr().out
