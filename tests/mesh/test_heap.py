"""settle_heap: the start-up heap is frozen out of the garbage collector's reach. Run in a child
process, because a frozen object is never collected (the test process must not keep them)."""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = """
import gc, json
from mesh.heap import settle_heap
kept = [{"i": i, "self": None} for i in range(50_000)]
for d in kept:
    d["self"] = d          # cycles, like model objects that refer to each other
garbage = [[] for _ in range(1_000)]
for g in garbage:
    g.append(g)
del garbage                # start-up leftovers: collected, not frozen
tracked_before = len(gc.get_objects())
frozen = settle_heap()
print(json.dumps({"before": tracked_before, "frozen": frozen, "after": len(gc.get_objects()),
                  "alive": len(kept)}))
"""


def test_the_start_up_heap_is_frozen_and_leftovers_collected_first() -> None:
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=60)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["frozen"] >= seen["alive"]  # every live dict is frozen
    assert seen["frozen"] < seen["before"]  # the 1,000 garbage cycles were collected, not frozen
    assert seen["after"] < 1_000  # full collections no longer walk the start-up objects

