"""`workbook release`: regenerate weeks/ from solutions/ (for authors), or check that it is in sync."""
from __future__ import annotations

import os
import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser("release", help="generate the exercise stubs in weeks/ from solutions/")
    parser.add_argument("--check", action="store_true", help="exit non-zero and name the files if weeks/ is stale")
    parser.add_argument("--strict", action="store_true",
                        help="with --check, also fail on hand-edited files in weeks/ (CI sets this via $CI)")
    parser.add_argument("--force", action="store_true", help="overwrite files in weeks/ that were edited")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from shared import release

    if args.check:
        status = release.check()
        strict = args.strict or bool(os.environ.get("CI"))
        problems = [f"stale (solutions/ changed since the last release): weeks/{n}" for n in status.stale]
        problems += [f"missing from weeks/: {n}" for n in status.missing]
        if strict:
            problems += [f"edited by hand (weeks/ must be generated): weeks/{n}" for n in status.edited]
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print("run `workbook release` to regenerate weeks/ from solutions/", file=sys.stderr)
            return 1
        print(f"weeks/ is in sync with solutions/ ({len(status.edited)} file(s) carry your own edits)")
        return 0
    report = release.release(force=args.force)
    for name in report["written"]:
        print(f"wrote   weeks/{name}")
    for name in report["removed"]:
        print(f"removed weeks/{name}")
    for name in report["kept_edits"]:
        print(f"kept    weeks/{name} (it has your edits; --force overwrites it)")
    print(f"{len(report['written'])} written, {len(report['unchanged'])} unchanged, "
          f"{len(report['kept_edits'])} kept with edits")
    return 0
