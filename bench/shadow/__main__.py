"""bench/shadow: time from TRIAGED to a ready proposal, with the local model, in the embedded mesh.

An embedded mesh (local Titan: MiniLM + the tenant's trained heads, shadow component, SQLite)
receives ``--tickets`` generic tickets in waves of ``--wave``; each flows ingest → normalize →
triage → shadow. Per ticket: *hop* = the commit of its proposal (the audit log's "proposed" entry,
written in the same transaction) minus the moment the triage was decided (``triaged_at``), so
it includes the bus hand-off, routing, runbook matching, drafting and the commit; *prepare* =
the shadow step's own wall time. Same-run ratio: hop P95 / triage P95 (ingest → triaged_at).
Texts come from ../shared/data/it_tickets_dev.csv when present (read at run time), otherwise from
demo/payloads. Target: hop P95 <= 200 ms.

    .venv/bin/python -m bench.shadow [--tickets 120] [--wave 8]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import shutil
import statistics
import time
from typing import Any

from backends.records import TicketState
from bench.common import REPO, SHARED_DATA, emit, percentile, summary_ms
from connectors.contract import Source
from mesh.app import EmbeddedMesh
from mesh.settings import OmegaSettings
from sdk.client import OmegaClient
from teams.shadow.component import ShadowComponent

TARGET_P95_MS = 200.0
OUT = REPO / "bench" / "out" / "shadow"
SETTLED = (TicketState.PROPOSED, TicketState.RESOLVED, TicketState.FAILED)


def texts(n: int) -> list[tuple[str, str]]:
    """(title, description) pairs: the shared dev set when present, else the demo payloads."""
    path = SHARED_DATA / "it_tickets_dev.csv"
    out: list[tuple[str, str]] = []
    if path.exists():
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                doc = (row.get("Document") or "").strip()
                if doc:
                    words = doc.split()
                    out.append((" ".join(words[:8]), doc))
                if len(out) >= n:
                    break
    else:
        print(f"shadow bench: {path} is absent; using the demo payloads' texts")
        for p in sorted((REPO / "demo" / "payloads").glob("*.json")):
            doc = json.loads(p.read_text())
            flat = json.dumps(doc)
            out.append((str(doc.get("title") or p.stem), flat[:600]))
    while out and len(out) < n:
        out += out[: n - len(out)]
    return out[:n]


async def run(n: int, wave: int) -> dict[str, Any]:
    OUT.mkdir(parents=True, exist_ok=True)
    data_dir = OUT / f"run-{int(time.time())}"
    settings = OmegaSettings(grpc_addr="127.0.0.1:0", http_addr="127.0.0.1:0", data_dir=data_dir, log_json=False,
                             log_level="WARNING")
    # Reuse the trained local model across runs (bench/out is gitignored).
    models = OUT / "models"
    models.mkdir(exist_ok=True)
    (data_dir).mkdir(parents=True, exist_ok=True)
    (data_dir / "models").symlink_to(models, target_is_directory=True)
    component = ShadowComponent()
    mesh = EmbeddedMesh(settings, components=[component])
    t0 = time.perf_counter()
    await mesh.start()
    print(f"shadow bench: mesh with the local model up in {time.perf_counter() - t0:.1f} s")
    assert component.service is not None and mesh.store is not None
    service = component.service
    prepare_s: list[float] = []
    original = service.prepare

    async def timed(tenant: str, ticket_id: str) -> str:
        start = time.perf_counter()
        try:
            return await original(tenant, ticket_id)
        finally:
            prepare_s.append(time.perf_counter() - start)

    service.prepare = timed  # type: ignore[method-assign]
    ids: list[str] = []
    try:
        async with OmegaClient(mesh.grpc_target) as client:
            pairs = texts(n)
            for start in range(0, len(pairs), wave):
                batch = []
                for i, (title, description) in enumerate(pairs[start:start + wave], start):
                    doc = {"id": f"bench-{i}", "title": title, "description": description, "version": "1",
                           "event": "created", "assignee": f"tech{i % 5}", "contact_name": "Bench User"}
                    res = await client.ingest_ticket(json.dumps(doc).encode(), source=Source.GENERIC)
                    batch.append(res.ticket_id)
                ids += batch
                async with asyncio.timeout(120):
                    for tid in batch:
                        while True:
                            rec = await mesh.store.tickets.get("default", tid)
                            if rec is not None and rec.state in SETTLED:
                                break
                            await asyncio.sleep(0.01)
        hop_s: list[float] = []
        triage_s: list[float] = []
        kinds: dict[str, int] = {}
        for tid in ids:
            rec = await mesh.store.tickets.get("default", tid)
            assert rec is not None and rec.triage is not None
            proposed = [a for a in await service.shadow.audit_log("default", ticket_id=tid) if a.action == "proposed"]
            if not proposed:
                continue
            tri_at = float(rec.triage["triaged_at"])
            hop_s.append(proposed[0].at - tri_at)
            triage_s.append(tri_at - rec.created_at)
            p = (await service.shadow.proposals("default", ticket_id=tid))[0]
            kinds[p.runbook or p.kind.value] = kinds.get(p.runbook or p.kind.value, 0) + 1
    finally:
        await mesh.stop(grace_s=1.0)
        shutil.rmtree(data_dir, ignore_errors=True)  # keep only the trained model cache
    hop, prep, tri = summary_ms(hop_s), summary_ms(prepare_s), summary_ms(triage_s)
    return {
        "bench": "shadow",
        "tickets": len(hop_s),
        "wave": wave,
        "hop_p50_ms": hop["p50_ms"], "hop_p95_ms": hop["p95_ms"], "hop_p99_ms": hop["p99_ms"],
        "prepare_p50_ms": prep["p50_ms"], "prepare_p95_ms": prep["p95_ms"],
        "triage_p50_ms": tri["p50_ms"], "triage_p95_ms": tri["p95_ms"],
        "hop_over_triage_p95": round(hop["p95_ms"] / tri["p95_ms"], 3) if tri["p95_ms"] else None,
        "hop_median_ms": round(statistics.median([h * 1000 for h in hop_s]), 2) if hop_s else None,
        "proposals_by_kind": kinds,
        "target_p95_ms": TARGET_P95_MS,
        "meets_target": bool(hop_s) and percentile([h * 1000 for h in hop_s], 95) <= TARGET_P95_MS,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickets", type=int, default=120)
    ap.add_argument("--wave", type=int, default=8)
    args = ap.parse_args()
    figures = asyncio.run(run(args.tickets, args.wave))
    print(f"shadow bench: {figures['tickets']} tickets, waves of {figures['wave']}")
    print(f"  TRIAGED → proposal committed: P50 {figures['hop_p50_ms']} ms, P95 {figures['hop_p95_ms']} ms,"
          f" P99 {figures['hop_p99_ms']} ms (target P95 ≤ {TARGET_P95_MS:.0f} ms)")
    print(f"  shadow step alone:            P50 {figures['prepare_p50_ms']} ms, P95 {figures['prepare_p95_ms']} ms")
    print(f"  ingest → triaged (same run):  P50 {figures['triage_p50_ms']} ms, P95 {figures['triage_p95_ms']} ms;"
          f" hop/triage P95 ratio {figures['hop_over_triage_p95']}")
    print(f"  proposals: {figures['proposals_by_kind']}")
    emit(figures)


if __name__ == "__main__":
    main()
