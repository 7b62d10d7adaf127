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


async def show_shadow_flow(target: str, out: TextIO, *, timeout_s: float = 30.0, http_port: int = 0) -> int:
    """After the triage table: each technician's shadow-agent proposals, then one confirmed by
    its technician (runbook applied, written back, resolved) and the quality scorecard.

    Returns 1 when no proposal appeared in time, else 0. Needs the shadow component in the mesh;
    confirming needs TicketService wired with it (``TicketServicer(..., actions=...)``)."""
    import grpc

    async with OmegaClient(target) as client:
        deadline = time.monotonic() + timeout_s
        proposals: list[ticket_pb2.Proposal] = []
        while time.monotonic() < deadline:
            try:
                proposals = await client.list_proposals(page_size=100)
            except grpc.aio.AioRpcError as err:
                out.write(f"shadow: the shadow team is not running ({err.code().name})\n")
                return 1
            if proposals:
                await asyncio.sleep(0.5)  # let the rest of the wave land
                proposals = await client.list_proposals(page_size=100)
                break
            await asyncio.sleep(0.2)
        if not proposals:
            out.write("shadow: no proposal appeared in time\n")
            return 1
        out.write(f"\nshadow agents prepared {len(proposals)} proposals:\n")
        out.write(f"{'technician':<14} {'state':<10} {'action':<24} {'conf':>5}  next step\n")
        for p in proposals:
            state = ticket_pb2.ProposalState.Name(p.state).removeprefix("PROPOSAL_STATE_")  # type: ignore[arg-type]
            action = p.runbook or "write triage to PSA"
            out.write(f"{p.technician[:14]:<14} {state + (' (auto)' if p.auto else ''):<10} {action[:24]:<24} "
                      f"{p.confidence:>5.2f}  {p.next_step[:70]}\n")
        pick = next((p for p in proposals if p.runbook and p.state == ticket_pb2.PROPOSAL_STATE_PROPOSED), None)
        pick = pick or next((p for p in proposals if p.state == ticket_pb2.PROPOSAL_STATE_PROPOSED), None)
        if pick is not None:
            # The shared "unassigned" queue may be taken by any technician of the tenant.
            who = pick.technician if pick.technician != "unassigned" else "demo-technician"
            async with OmegaClient(target, technician=who) as tech:
                sugg = await tech.get_suggestions(pick.ticket_id)
                out.write(f"\n{who} confirms '{pick.runbook or 'triage'}' on "
                          f"{sugg.ticket.title[:60]!r} (single-use token issued to them)\n")
                try:
                    done = await tech.confirm_proposal(pick.id, sugg.confirmation_token)
                    state = ticket_pb2.ProposalState.Name(done.state).removeprefix("PROPOSAL_STATE_")  # type: ignore[arg-type]
                    out.write(f"  → {state}: {done.execution_summary or 'triage written back'}\n")
                except grpc.aio.AioRpcError as err:
                    out.write(f"  → not applied: {err.code().name} {err.details()}\n")
        card = await client.get_scorecard()
        out.write(
            f"\nscorecard: auto-resolution {card.auto_resolution_rate:.0%}, override {card.override_rate:.0%}, "
            f"reopen {card.reopen_rate:.0%}, confident-but-wrong {card.confident_but_wrong}, "
            f"SLA at risk {card.sla_at_risk}\n"
        )
        if http_port:
            out.write(f"dashboard: http://127.0.0.1:{http_port}/dashboard\n")
        return 0
