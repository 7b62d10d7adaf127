"""The demo: send the team's sample payloads through the pipeline and print each triage."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import TextIO

from omega.tickets.v1 import ticket_pb2

from sdk.client import OmegaClient

DEMO_PAYLOADS = Path(__file__).resolve().parent.parent / "demo" / "payloads"
SETTLED = {
    ticket_pb2.TICKET_STATE_TRIAGED,
    ticket_pb2.TICKET_STATE_NEEDS_REVIEW,
    ticket_pb2.TICKET_STATE_FAILED,
    ticket_pb2.TICKET_STATE_DELETED,
    ticket_pb2.TICKET_STATE_ROUTED,
    ticket_pb2.TICKET_STATE_PROPOSED,
    ticket_pb2.TICKET_STATE_RESOLVED,
}


def state_name(value: int) -> str:
    return ticket_pb2.TicketState.Name(value).removeprefix("TICKET_STATE_")  # type: ignore[arg-type]


def triage_row(t: ticket_pb2.Ticket) -> dict[str, object]:
    tri = t.triage
    return {
        "ticket_id": t.id,
        "source": ticket_pb2.SourceSystem.Name(t.source).removeprefix("SOURCE_SYSTEM_").lower(),  # type: ignore[arg-type]
        "title": t.title,
        "category": tri.category.label,
        "priority": tri.priority.label,
        "confidence": round(tri.category.confidence, 3),
        "state": state_name(t.state),
        "model_version": tri.model_version,
    }


async def wait_settled(
    client: OmegaClient, ticket_id: str, timeout_s: float = 60.0
) -> ticket_pb2.Ticket:
    """Poll until the ticket reaches a settled state (bounded)."""
    deadline = time.monotonic() + timeout_s
    delay = 0.02
    while True:
        ticket = await client.get_ticket(ticket_id)
        if ticket.state in SETTLED or time.monotonic() > deadline:
            return ticket
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.5)


async def run_demo(target: str, out: TextIO, payload_dir: Path = DEMO_PAYLOADS) -> int:
    """Ingest every demo payload, print each ticket's triage as it completes. Returns failures."""
    files = sorted(payload_dir.glob("*.json"))
    if not files:
        out.write(f"demo: no payloads in {payload_dir}\n")
        return 1
    async with OmegaClient(target) as client:
        await client.wait_ready(15)
        out.write(f"demo: sending {len(files)} sample tickets to {target}\n")
        out.write(f"{'source':<12} {'category':<18} {'priority':<10} {'conf':>5}  {'state':<12} title\n")
        ids = []
        for f in files:
            res = await client.ingest_ticket(f.read_bytes(), received_via="demo")
            ids.append(res.ticket_id)
        failures = 0
        for coro in asyncio.as_completed([wait_settled(client, i) for i in ids]):
            t = await coro
            row = triage_row(t)
            if row["state"] == "FAILED":
                failures += 1
            out.write(
                f"{row['source']:<12} {str(row['category'])[:18]:<18} {str(row['priority'])[:10]:<10} "
                f"{row['confidence']:>5.2f}  {row['state']:<12} {str(row['title'])[:60]}\n"
            )
            out.flush()
        out.write(f"demo: done ({len(ids) - failures}/{len(ids)} triaged or sent to review)\n")
        return failures


def load_rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
