"""`workbook lessons`: run every lesson notebook as a learner would and store it with its outputs (shared/lessons.py).

    workbook lessons                 # all weeks, learner mode, outputs written into lessons/weekN.ipynb
    workbook lessons --week 2        # one week
    workbook lessons --check         # run nothing: say which stored notebooks are out of step with their code
"""
from __future__ import annotations

import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser("lessons", help="run the lesson notebooks and store them with their outputs",
                                   description=__doc__)
    parser.add_argument("--week", type=int, nargs="+", help="only these weeks (default: all)")
    parser.add_argument("--check", action="store_true", help="only check that the stored outputs match the code")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from shared.lessons import lesson_paths, problems, run_lesson, stale, store

    paths = lesson_paths(args.week)
    if not paths:
        print(f"workbook lessons: error: no lesson for week(s) {args.week}", file=sys.stderr)
        return 2
    if args.check:
        reasons = [reason for reason in map(stale, paths) if reason]
        print("\n".join(reasons) if reasons else f"{len(paths)} lesson(s) stored with the outputs of their code")
        return 1 if reasons else 0
    failed = 0
    for path in paths:
        print(f"{path.name}: running as a learner would…", flush=True)
        try:
            lesson = run_lesson(path)
        except Exception as error:  # noqa: BLE001 — nbclient's CellExecutionError, a dead kernel, a timeout
            failed += 1
            print(f"{path.name}: not stored: {str(error).strip().splitlines()[-1][:300]}", file=sys.stderr)
            continue
        found = problems(lesson.notebook)
        if found:
            failed += 1
            print(f"{path.name}: not stored: " + "; ".join(found), file=sys.stderr)
            continue
        store(path, lesson)
        print(f"{path.name}: stored with its outputs ({lesson.seconds:.0f} s)", flush=True)
    return 1 if failed else 0
