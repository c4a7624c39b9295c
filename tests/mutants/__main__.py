"""`python -m tests.mutants [WORD ...]`: grade the mutants (those whose id contains a WORD), print the table and
the score, and write them to bench/results/mutation_suite.md. Takes a few minutes for the whole suite."""
from __future__ import annotations

import os
import sys
import time

from shared.paths import REPO_ROOT
from tests import mutants


def main(words: list[str]) -> None:
    chosen = [m for m in mutants.load() if not words or any(w in m.id for w in words)]
    verdicts, start, cpu = [], time.perf_counter(), os.times()
    for index, round_ in enumerate(mutants.rounds(chosen)):
        verdicts += mutants.grade(round_)
        print(f"round {index}: {len(round_)} mutants", flush=True)
    wall, used = time.perf_counter() - start, os.times()
    cpu_s = (used.children_user + used.children_system) - (cpu.children_user + cpu.children_system)
    score = mutants.score(verdicts)
    summary = (f"{score['caught']}/{score['mutants']} mutants caught, {score['pointed']}/{score['mutants']} with a "
               f"pointed message; {score['alternatives_full_marks']}/{score['alternatives']} correct alternatives "
               f"at full marks. {wall:.0f} s wall, {cpu_s:.0f} CPU-s, load average {os.getloadavg()[0]:.1f}, "
               f"{os.cpu_count()} cores.")
    text = f"# Mutation suite\n\n`python -m tests.mutants`: {summary}\n\n{mutants.table(verdicts)}\n"
    print(text)
    if not words:
        (REPO_ROOT / "bench" / "results" / "mutation_suite.md").write_text(text)


if __name__ == "__main__":
    main(sys.argv[1:])
