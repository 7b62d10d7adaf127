"""Fail when the committed generated code in gen/ differs from what protos/ generates."""

from __future__ import annotations

import filecmp
import sys
import tempfile
from pathlib import Path

from protos.generate import REPO_ROOT, generate


def main() -> int:
    committed = REPO_ROOT / "gen"
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        stale = []
        for f in fresh.rglob("*"):
            if f.is_file():
                rel = f.relative_to(fresh)
                other = committed / rel
                if not other.exists() or not filecmp.cmp(f, other, shallow=False):
                    stale.append(str(rel))
        if stale:
            print("gen/ is stale; run `make gen`:", *stale, sep="\n  ", file=sys.stderr)
            return 1
    print("protos: generated code is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
