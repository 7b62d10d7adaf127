"""The Context Server inside the embedded mesh: triage results carry similar resolved tickets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from omega.tickets.v1 import ticket_pb2

from context.component import ContextComponent
from context.models import MemoryKind
from mesh.app import EmbeddedMesh
from mesh.demo import wait_settled
from sdk.client import OmegaClient
from tests.conftest import RuleOfThumbTriager, make_settings


class TinyEmbedder:
    """A deterministic bag-of-words embedder (for this test only: the real MiniLM is tested in
    tests/titans/local and tests/context); it lets the test assert which memory is nearest."""

    dim = 64
    model_id = "tiny-bow"

    def embed(self, texts, *, batch_size: int = 32):  # type: ignore[no-untyped-def]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, hash(word) % self.dim] += 1.0
            norm = np.linalg.norm(out[i])
            if norm:
                out[i] /= norm
        return out


async def test_triage_carries_the_most_similar_resolved_tickets(tmp_path: Path) -> None:
    context = ContextComponent()
    mesh = EmbeddedMesh(
        make_settings(tmp_path), triager=RuleOfThumbTriager(), embedder=TinyEmbedder(),
        components=[context],
    )
    await mesh.start()
    try:
        assert context.service is not None
        await context.service.remember(
            "default", MemoryKind.RESOLVED_TICKET, "printer on floor 3 jams paper",
            resolution="cleared tray 2 and restarted the spooler", source_ticket_id="tkt_old1",
            confirmed=True,
        )
        await context.service.remember(
            "default", MemoryKind.RESOLVED_TICKET, "vpn disconnects from home",
            resolution="updated the VPN client", source_ticket_id="tkt_old2", confirmed=True,
        )
        await context.service.remember(
            "other", MemoryKind.RESOLVED_TICKET, "printer on floor 3 jams paper again",
            resolution="another tenant's fix", source_ticket_id="tkt_x", confirmed=True,
        )
        payload = json.dumps({"id": "C-1", "title": "printer floor 3 jams", "description": "paper"})
        async with OmegaClient(mesh.grpc_target) as client:
            res = await client.ingest_ticket(payload.encode())
            ticket = await wait_settled(client, res.ticket_id, timeout_s=20)
        assert ticket.state == ticket_pb2.TICKET_STATE_TRIAGED
        similar = list(ticket.triage.similar)
        assert similar and similar[0].ticket_id == "tkt_old1"
        assert similar[0].resolution == "cleared tray 2 and restarted the spooler"
        assert all(s.ticket_id != "tkt_x" for s in similar)  # never another tenant's memory
    finally:
        await mesh.stop(grace_s=0.5)
