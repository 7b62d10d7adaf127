"""Run every benchmark (or ``--only a,b``), each in its own process; print each one's figures.

The last line is one JSON object mapping each benchmark to the JSON its own last line printed.
``bench.accuracy`` runs 5-fold cross-validation on the shared datasets and takes the longest.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

ALL = ["ingest", "route", "shadow", "mcp", "recall", "accuracy"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {ALL}")
    args = parser.parse_args()
    results: dict[str, object] = {}
    failed = 0
    for name in [n for n in args.only.split(",") if n]:
        print(f"== bench.{name}", flush=True)
        proc = subprocess.run(
            [sys.executable, "-m", f"bench.{name}"], capture_output=True, text=True, check=False
        )
        sys.stdout.write(proc.stdout)
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        try:
            results[name] = json.loads(lines[-1]) if proc.returncode == 0 and lines else None
        except json.JSONDecodeError:
            results[name] = None
        if results[name] is None:
            failed += 1
            sys.stderr.write(proc.stderr[-2000:])
            print(f"bench.{name} failed (exit {proc.returncode})", flush=True)
    print(json.dumps(results, sort_keys=True))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
