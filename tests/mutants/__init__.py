"""The mutation suite: copies of the reference solutions, each with one realistic bug, and what must be said.

Each `weekN/<exercise>/<bug>.py` is `solutions/weekN/<exercise>.py` with one bug (or, for `alt_*.py`, a different
but correct way to do it). Its first lines say what changed and what the autograder must answer:

    # Mutant of solutions/week1/activations.py: relu_grad gives 1 at exactly 0 (x >= 0).
    # expect: relu_grad|exactly 0

A mutant is *caught* when its exercise loses points, and the message is *pointed* when one failing test's message
contains every `|`-separated word (case-insensitive). `# expect: full marks` means the file must score 100%.

Mutants of different exercises do not affect each other (each exercise is graded alone, its siblings taken from
the reference), so `rounds()` grades one mutant per exercise in the same tree and the same pytest run.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from shared.grading.runner import exercise_tests, run_tests
from shared.paths import SOLUTIONS_DIR

HERE = Path(__file__).resolve().parent
FULL_MARKS = "full marks"


@dataclass(frozen=True)
class Mutant:
    week: str
    exercise: str
    name: str
    path: Path
    description: str
    expect: tuple[str, ...]  # () for a correct alternative

    @property
    def id(self) -> str:
        return f"{self.week}/{self.exercise}/{self.name}"


@dataclass
class Verdict:
    mutant: Mutant
    earned: float
    possible: float
    messages: list[str]

    @property
    def caught(self) -> bool:
        return self.possible > 0 and self.earned < self.possible

    @property
    def pointed(self) -> bool:
        words = [w.lower() for w in self.mutant.expect]
        return any(all(w in message.lower() for w in words) for message in self.messages)

    @property
    def ok(self) -> bool:
        if not self.mutant.expect:
            return self.possible > 0 and self.earned == self.possible
        return self.caught and self.pointed


def load(root: Path = HERE) -> list[Mutant]:
    mutants = []
    for path in sorted(root.glob("week*/*/*.py")):
        lines = path.read_text().splitlines()
        description = lines[0].split(":", 1)[-1].strip()
        expect = lines[1].removeprefix("# expect:").strip()
        words = () if expect == FULL_MARKS else tuple(w.strip() for w in expect.split("|"))
        mutants.append(Mutant(path.parent.parent.name, path.parent.name, path.stem, path, description, words))
    return mutants


def rounds(mutants: list[Mutant]) -> list[list[Mutant]]:
    """Round k holds the k-th mutant of every exercise."""
    by_exercise: dict = {}
    for mutant in mutants:
        by_exercise.setdefault((mutant.week, mutant.exercise), []).append(mutant)
    count = max((len(group) for group in by_exercise.values()), default=0)
    return [[group[k] for group in by_exercise.values() if k < len(group)] for k in range(count)]


def grade(round_: list[Mutant], workdir: Path | None = None, extra_args: tuple[str, ...] = ()) -> list[Verdict]:
    """Grade one round: a copy of solutions/ with each mutant in place of its exercise, one pytest run."""
    with tempfile.TemporaryDirectory(prefix="workbook-mutants-", dir=workdir) as tmp:
        tree = Path(tmp) / "tree"
        shutil.copytree(SOLUTIONS_DIR, tree, ignore=shutil.ignore_patterns("__pycache__"))
        for mutant in round_:
            shutil.copyfile(mutant.path, tree / mutant.week / f"{mutant.exercise}.py")
        tests = [exercise_tests(m.week, m.exercise) for m in round_]
        run = run_tests(tests, target=tree, grades_json=Path(tmp) / "grades.json", extra_args=extra_args)
    verdicts = []
    for mutant in round_:
        entries = [t for t in run.grades.get("tests", [])
                   if t["week"] == mutant.week and t["exercise"] == mutant.exercise]
        verdicts.append(Verdict(mutant, sum(t["points_earned"] for t in entries),
                                sum(t["points_possible"] for t in entries),
                                [t["message"] for t in entries if t["status"] != "passed"]))
    if not run.grades:
        raise RuntimeError(f"the autograder wrote no grades:\n{run.output[-3000:]}")
    return verdicts


def table(verdicts: list[Verdict]) -> str:
    lines = ["| mutant | points | caught | pointed | first message |", "| --- | ---: | :---: | :---: | --- |"]
    for v in verdicts:
        first = (v.messages[0] if v.messages else "").replace("|", "/")[:140]
        caught = "alt" if not v.mutant.expect else ("yes" if v.caught else "**no**")
        pointed = "" if not v.mutant.expect else ("yes" if v.pointed else "**no**")
        lines.append(f"| {v.mutant.id} | {v.earned:g}/{v.possible:g} | {caught} | {pointed} | {first} |")
    return "\n".join(lines)


def score(verdicts: list[Verdict]) -> dict:
    mutants = [v for v in verdicts if v.mutant.expect]
    alternatives = [v for v in verdicts if not v.mutant.expect]
    return {"mutants": len(mutants), "caught": sum(v.caught for v in mutants),
            "pointed": sum(v.caught and v.pointed for v in mutants),
            "alternatives": len(alternatives), "alternatives_full_marks": sum(v.ok for v in alternatives)}


def save(verdicts: list[Verdict], path: Path) -> None:
    path.write_text(json.dumps({"score": score(verdicts), "verdicts": [
        {"id": v.mutant.id, "earned": v.earned, "possible": v.possible, "caught": v.caught, "pointed": v.pointed,
         "ok": v.ok, "messages": v.messages[:3]} for v in verdicts]}, indent=2))
