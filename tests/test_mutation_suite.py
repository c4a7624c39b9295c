"""The mutation suite (tests/mutants/): every committed mutant loses points with a message that names its bug, and
every correct alternative scores full marks.

Each round grades one mutant of every exercise in a single `pytest autograder` run (the exercises are graded apart,
so mutants of different exercises cannot affect each other). `python -m tests.mutants` prints the whole table.
"""
from __future__ import annotations

import pytest

from shared.paths import SOLUTIONS_DIR
from tests import mutants

MUTANTS = mutants.load()
ROUNDS = mutants.rounds(MUTANTS)


def test_the_suite_is_what_the_issue_asks_for():
    bugs = [m for m in MUTANTS if m.expect]
    assert len(bugs) >= 60, f"only {len(bugs)} mutants"
    assert {m.week for m in bugs} == {"week1", "week2", "week3", "week4"}
    for mutant in MUTANTS:
        assert mutant.path.read_text().startswith(("# Mutant of solutions/", "# Alternative (correct) of solutions/"))
        assert (SOLUTIONS_DIR / mutant.week / f"{mutant.exercise}.py").exists(), mutant.id


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("index", range(len(ROUNDS)), ids=[f"round{k}" for k in range(len(ROUNDS))])
def test_each_mutant_is_caught_with_a_pointed_message(index, tmp_path):
    verdicts = mutants.grade(ROUNDS[index], workdir=tmp_path)
    wrong = [v for v in verdicts if not v.ok]
    assert not wrong, "these mutants were not caught with a pointed message (or an alternative lost points):\n" + \
        mutants.table(wrong)
