"""`python -m seams`: after an upgrade, what to re-audit.

    python -m seams          # every entry whose upstream source changed; exit 1 if any
    python -m seams --list   # the whole register, by module

Re-audit each entry it lists (read the upstream change, adapt our module or port the fix),
then set the entry's `sha256` to the installed hash it prints."""

import argparse
import sys
from itertools import groupby

from seams.register import SEAMS
from seams.upstream import drifted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seams", description=__doc__)
    parser.add_argument("--list", action="store_true", help="print the register by module")
    args = parser.parse_args(argv)
    if args.list:
        for module, entries in groupby(sorted(SEAMS, key=lambda s: s.module), lambda s: s.module):
            print(module)
            for seam in entries:
                print(f"    {seam.kind:8} {seam.upstream}")
        return 0
    drift = drifted(SEAMS)
    if not drift:
        print(f"{len(SEAMS)} seams, every upstream source as audited")
        return 0
    print(f"{len(drift)} of {len(SEAMS)} seams to re-audit:\n")
    for item in drift:
        print(item, end="\n\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
