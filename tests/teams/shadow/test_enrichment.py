"""Optional collaborators (Context Server recall and memory), ordering, and tenant scoping."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from omega.shadow.v1 import shadow_pb2, shadow_pb2_grpc

from backends.records import TicketState
from federation.errors import NotFound
from tests.teams.shadow.conftest import ShadowRig


class FakeMemory:
    """Records what the shadow team asks the Context Server to remember."""

    def __init__(self) -> None:
        self.remembered: list[tuple[str, int, dict[str, Any]]] = []

    async def remember(self, tenant: str, kind: int, text: str, **kw: Any) -> str:
        self.remembered.append((tenant, kind, kw))
        return "mem_1"


async def test_similar_tickets_and_memory_are_used_when_offered(rig: ShadowRig) -> None:
    asked: list[str] = []

    async def similar(tenant: str, text: str, embedding: Any, k: int) -> list[dict[str, Any]]:
        asked.append(tenant)
        return [{"ticket_id": "old-1", "title": "Excel crash on save", "resolution": "Repaired Office",
                 "score": 0.81, "category": "General"}]

    memory = FakeMemory()
    rig.service.similar, rig.service.memory = similar, memory
    tid = await rig.ingest("S-1", "Excel crashes when saving [tech:alice]", "Since the update")
    await rig.wait_state(tid, TicketState.PROPOSED)
    p = (await rig.service.shadow.proposals("default", ticket_id=tid))[0]
    assert asked == ["default"]
    assert p.suggestion["similar"][0]["ticket_id"] == "old-1"
    assert p.suggestion["next_step"].startswith("A similar ticket was fixed by: Repaired Office")
    await rig.service.resolve("default", tid, "alice", "Repaired the Office install")
    assert [(t, kind, kw["confirmed"], kw["source_ticket_id"]) for t, kind, kw in memory.remembered] == [
        ("default", 1, True, tid)]


async def test_a_failing_recall_never_blocks_the_proposal(rig: ShadowRig) -> None:
    async def broken(tenant: str, text: str, embedding: Any, k: int) -> list[dict[str, Any]]:
        raise RuntimeError("context server down")

    rig.service.similar = broken
    tid = await rig.ingest("S-2", "Excel crashes when saving [tech:alice]", "Since the update")
    await rig.wait_state(tid, TicketState.PROPOSED)
    assert (await rig.service.shadow.proposals("default", ticket_id=tid))[0].suggestion["similar"] == []


async def test_the_queue_is_ordered_by_priority_then_sla_risk(rig: ShadowRig) -> None:
    medium = await rig.ingest("O-1", "Question about Excel [tech:alice]", "")
    high = await rig.ingest("O-2", "Urgent: Excel broken for everyone [tech:alice]", "")
    for tid in (medium, high):
        await rig.wait_state(tid, TicketState.PROPOSED)
    queue = await rig.service.my_queue("default", "alice")
    assert [i.ticket.id for i in queue] == [high, medium]
    assert [i.priority for i in queue] == ["High", "Medium"]


async def test_another_tenant_sees_nothing(rig: ShadowRig) -> None:
    tid = await rig.ingest("T-9", "Printer jammed [tech:alice]", "Reception printer jammed")
    await rig.wait_state(tid, TicketState.PROPOSED)
    p = (await rig.service.shadow.proposals("default", ticket_id=tid))[0]
    assert await rig.service.my_queue("acme", "alice") == []
    with pytest.raises(NotFound):
        await rig.service.issue_token("acme", p.id, "alice")
    stub = shadow_pb2_grpc.ShadowServiceStub(rig.client.channel)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetSuggestions(shadow_pb2.GetSuggestionsRequest(tenant="acme", ticket_id=tid),
                                  metadata=(("x-omega-technician", "alice"),))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
