"""Triage asks a cloud Titan only for tickets below the local threshold, and records who decided.

The cloud model is the real OpenAI SDK pointed at a local stand-in of OpenAI's wire format
(tests/titans/cloud/titan_standins.py); no test can reach a real network model."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from titan_helpers import model_for
from titan_standins import Reply, StandIn

from mesh.app import EmbeddedMesh
from mesh.demo import wait_settled
from sdk.client import OmegaClient
from tests.conftest import RuleOfThumbTriager, make_settings
from titans.router import TitanRouter


def ticket(i: str, title: str) -> bytes:
    return json.dumps({"id": i, "title": title, "description": "details"}).encode()


async def test_only_unsure_tickets_get_a_second_opinion_and_agreement_settles_them(
    tmp_path: Path, openai_standin: StandIn, make_router: Callable[..., TitanRouter]
) -> None:
    router = make_router([model_for("openai", openai_standin.base_url)], tmp_path)
    mesh = EmbeddedMesh(
        make_settings(tmp_path), triager=RuleOfThumbTriager(), components=[], second_opinion=router
    )
    await mesh.start()
    try:
        opinion = {"category": "General", "priority": "P3", "confidence": 0.9, "rationale": "agrees"}
        openai_standin.push(Reply(text=json.dumps(opinion)))
        async with OmegaClient(mesh.grpc_target) as client:
            sure = await client.ingest_ticket(ticket("S-1", "Outlook will not start"))
            unsure = await client.ingest_ticket(ticket("S-2", "please review me: odd noise"))
            sure_t = await wait_settled(client, sure.ticket_id, timeout_s=20)
            unsure_t = await wait_settled(client, unsure.ticket_id, timeout_s=20)
            # A second unsure ticket: the cloud answers a category the tenant does not have (the
            # local model's candidates are the allowed list), so the answer is refused and a
            # human still reviews the ticket.
            openai_standin.push(Reply(text=json.dumps({**opinion, "category": "Hardware"})))
            other = await client.ingest_ticket(ticket("S-3", "please review me: fan noise"))
            other_t = await wait_settled(client, other.ticket_id, timeout_s=20)
        assert len(openai_standin.requests) == 2  # the confident ticket never left the process
        assert sure_t.triage.decided_by == "local"
        assert unsure_t.state == 3 and unsure_t.triage.decided_by == "openai"  # TRIAGED
        assert other_t.state == 7 and other_t.triage.decided_by == "local"  # NEEDS_REVIEW
        assert mesh.store is not None
        record = await mesh.store.tickets.get("default", other.ticket_id)
        assert record is not None and record.triage is not None
        assert "second_opinion" not in record.triage
        assert any(r.startswith("no cloud second opinion") for r in record.triage["reasons"])
        agreed = await mesh.store.tickets.get("default", unsure.ticket_id)
        assert agreed is not None and agreed.triage is not None
        assert agreed.triage["second_opinion"]["category"] == "General"
        assert any("second opinion from openai" in r for r in agreed.triage["reasons"])
    finally:
        await mesh.stop(grace_s=0.5)
