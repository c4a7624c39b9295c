"""`workbook nbgrader DIR`: write an nbgrader course (config and source notebooks) made from solutions/."""
from __future__ import annotations

import sys
from pathlib import Path

NEXT_STEPS = """
next, in {dest}:
  nbgrader generate_assignment week1        # release/week1/: the notebooks without their solutions
  # students' notebooks go to submitted/<student>/week1/ (nbgrader collect, or copy them there)
  nbgrader autograde week1                  # runs the autograder tests; scores in gradebook.db
  nbgrader generate_feedback week1          # feedback/<student>/week1/*.html"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "nbgrader", help="write an nbgrader course directory (config + source notebooks) from solutions/")
    parser.add_argument("dest", type=Path, metavar="DIR", help="the course directory (created if needed)")
    parser.add_argument("--weeks", nargs="+", metavar="WEEK", help="only these weeks, e.g. week1 week2 (default: all)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from shared.course.export import export_course
    from shared.paths import REPO_ROOT

    unknown = [week for week in args.weeks or [] if not (REPO_ROOT / "autograder" / week).is_dir()]
    if unknown:
        known = sorted(p.name for p in (REPO_ROOT / "autograder").glob("week*"))
        print(f"workbook nbgrader: no such week: {', '.join(unknown)} (the weeks are {', '.join(known)})",
              file=sys.stderr)
        return 2
    if args.dest.exists() and not args.dest.is_dir():
        print(f"workbook nbgrader: {args.dest} is a file; give a directory for the course", file=sys.stderr)
        return 2
    kept = (args.dest / "nbgrader_config.py").exists()
    summary = export_course(args.dest, args.weeks)
    for week, exercises in summary.items():
        print(f"{week}: {len(exercises)} notebooks, {sum(exercises.values()):g} points "
              f"({', '.join(f'{name} {points:g}' for name, points in exercises.items())})")
    config = f"kept your {args.dest / 'nbgrader_config.py'}" if kept else f"wrote {args.dest / 'nbgrader_config.py'}"
    print(f"wrote {args.dest / 'source'}; {config}" + NEXT_STEPS.format(dest=args.dest))
    return 0
