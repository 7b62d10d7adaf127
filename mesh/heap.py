"""Garbage-collector settings for a long-running OMEGA server process.

Once a mesh or a deployable has started, nearly every object alive is there to stay: imported
modules, the triage model (vectorizer vocabularies of ~100k entries, coefficients), the
embedder, gRPC stubs. CPython's cyclic collector still walks all of them on every full
(generation 2) collection, and with that heap a full collection took ~110 ms; in an ingest burst
that was about one pause every 2 s (~5 % of the time, and the P99 of whatever was in flight).
Freezing the start-up heap moves it out of the collector's reach: full collections then take a
few milliseconds. Objects frozen are never collected even if they later become garbage, so this
is done once, by the ``omega`` command, not by library code (tests start many meshes).
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def settle_heap() -> int:
    """Collect what start-up left behind, then freeze everything alive; returns how many
    objects are now frozen."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("froze %d start-up objects out of the garbage collector's reach", frozen)
    return frozen
