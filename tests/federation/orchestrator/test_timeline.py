"""GetTicketTimeline and the federation perimeter inside the embedded mesh (real gRPC, port 0)."""

from __future__ import annotations

import asyncio
import json
import time

import grpc
import pytest
from omega.capacity.v1 import capacity_pb2, capacity_pb2_grpc
from omega.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from omega.registry.v1 import registry_pb2, registry_pb2_grpc

from backends.records import FINAL_STATES, TicketState
from federation.orchestrator.service import can_transition
from mesh.app import EmbeddedMesh
from sdk.client import OmegaClient


async def _settled(
    mesh: EmbeddedMesh, ticket_id: str, timeout_s: float = 15.0, last_step: str = "ticket.normalized"
) -> None:
    """Until the ticket is final and ``last_step``'s event is recorded (it follows the save)."""
    assert mesh.store is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        record = await mesh.store.tickets.get("default", ticket_id)
        events = await mesh.store.timeline.events("default", ticket_id)
        done = any(e.step == last_step and e.outcome == "ok" for e in events)
        if record is not None and record.state in FINAL_STATES and done:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(ticket_id)


async def test_timeline_lists_every_step_with_outcome_and_duration(mesh: EmbeddedMesh) -> None:
    payload = json.dumps({"id": "T-1", "title": "Outlook will not open", "description": "crash"})
    async with OmegaClient(mesh.grpc_target) as client:
        res = await client.ingest_ticket(payload.encode())
        # The whole journey: the shadow team (scaled to zero until this ticket) takes it on
        # from TRIAGED, started at once by the publish.
        await _settled(mesh, res.ticket_id, last_step="ticket.triaged")
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(client.channel)
        resp = await stub.GetTicketTimeline(
            orchestrator_pb2.GetTicketTimelineRequest(ticket_id=res.ticket_id), timeout=5
        )
    assert [s.step for s in resp.steps] == ["ticket.raw", "ticket.normalized", "ticket.triaged"]
    assert all(s.outcome == orchestrator_pb2.STEP_OUTCOME_OK for s in resp.steps)
    assert [s.target_state for s in resp.steps][:2] == ["NORMALIZED", "TRIAGED"]
    assert resp.state == resp.steps[-1].target_state != "TRIAGED"  # the shadow step moved it on
    assert all(s.attempt == 1 and s.start_time.seconds > 0 for s in resp.steps)


async def test_timeline_records_retries_with_their_error(mesh: EmbeddedMesh, triager: object) -> None:
    triager.fail_times = 1  # type: ignore[attr-defined]
    payload = json.dumps({"id": "T-2", "title": "VPN drops", "description": "every hour"})
    async with OmegaClient(mesh.grpc_target) as client:
        res = await client.ingest_ticket(payload.encode())
        await _settled(mesh, res.ticket_id)
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(client.channel)
        resp = await stub.GetTicketTimeline(
            orchestrator_pb2.GetTicketTimelineRequest(ticket_id=res.ticket_id), timeout=5
        )
    triage = [s for s in resp.steps if s.step == "ticket.normalized"]
    assert [s.outcome for s in triage] == [
        orchestrator_pb2.STEP_OUTCOME_RETRY, orchestrator_pb2.STEP_OUTCOME_OK
    ]
    assert [s.attempt for s in triage] == [1, 2]
    assert "hiccup" in triage[0].error


async def test_timeline_of_unknown_or_other_tenants_ticket_is_not_found(mesh: EmbeddedMesh) -> None:
    payload = json.dumps({"id": "T-3", "title": "Printer", "description": "jam"})
    async with OmegaClient(mesh.grpc_target) as client:
        res = await client.ingest_ticket(payload.encode())
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(client.channel)
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await stub.GetTicketTimeline(
                orchestrator_pb2.GetTicketTimelineRequest(ticket_id="t_nope"), timeout=5
            )
        with pytest.raises(grpc.aio.AioRpcError) as other:
            await stub.GetTicketTimeline(
                orchestrator_pb2.GetTicketTimelineRequest(tenant="acme", ticket_id=res.ticket_id),
                timeout=5,
            )
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert other.value.code() == grpc.StatusCode.NOT_FOUND


def test_state_machine_allows_only_documented_moves() -> None:
    assert can_transition(TicketState.RECEIVED, TicketState.NORMALIZED)
    assert can_transition(TicketState.NORMALIZED, TicketState.NEEDS_REVIEW)
    assert not can_transition(TicketState.RECEIVED, TicketState.TRIAGED)
    assert not can_transition(TicketState.FAILED, TicketState.NORMALIZED)


async def test_pipeline_teams_are_registered_agents_and_capacity_managed(mesh: EmbeddedMesh) -> None:
    async with grpc.aio.insecure_channel(mesh.grpc_target) as ch:
        registry = registry_pb2_grpc.AgentRegistryServiceStub(ch)
        deadline = time.monotonic() + 10
        while True:
            agents = (await registry.ListAgents(registry_pb2.ListAgentsRequest(), timeout=5)).agents
            teams = {a.card.team for a in agents if a.state == registry_pb2.AGENT_STATE_READY}
            if {"triage", "orchestrator"} <= teams or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        capacity = capacity_pb2_grpc.CapacityServiceStub(ch)
        listed = await capacity.ListTeams(capacity_pb2.ListTeamsRequest(), timeout=5)
    assert {"triage", "orchestrator"} <= teams
    names = {t.policy.team for t in listed.teams}
    assert "triage" in names
    assert mesh.teams is not None
    assert await _pool_size(mesh, "triage") >= 1  # triage keeps one worker in embedded mode


async def _pool_size(mesh: EmbeddedMesh, team: str) -> int:
    assert mesh.ctx is not None
    component = mesh.ctx.services["capacity_component"]
    assert component.pool is not None
    return int(await component.pool.size(team))


async def test_an_idle_team_scales_to_zero_and_wakes_for_new_work(
    settings: object, triager: object, tmp_path: object
) -> None:
    from federation.components import FederationSettings, federation_components
    from mesh.settings import OmegaSettings
    from teams.triage.component import TriageServiceComponent

    assert isinstance(settings, OmegaSettings)
    fs = FederationSettings(team_idle_cooldown_s=0.5, capacity_interval_s=0.1, triage_min_workers=1,
                            arrival_window_s=1.0)
    m = EmbeddedMesh(settings, triager=triager, embedder=None,
                     components=[TriageServiceComponent(), *federation_components(fs)])
    await m.start()
    try:
        async with OmegaClient(m.grpc_target) as client:
            first = await client.ingest_ticket(json.dumps({"id": "Z-1", "title": "a", "description": "b"}).encode())
            await _settled(m, first.ticket_id)
            deadline = time.monotonic() + 15
            while await _pool_size(m, "orchestrator") > 0:  # idle past the cool-down: zero
                assert time.monotonic() < deadline, "the idle team never scaled to zero"
                await asyncio.sleep(0.05)
            assert await _pool_size(m, "triage") == 1  # the triage floor holds
            second = await client.ingest_ticket(json.dumps({"id": "Z-2", "title": "c", "description": "d"}).encode())
            await _settled(m, second.ticket_id)  # the team woke from zero for it
    finally:
        await m.stop()
