"""Agent Registry: leases, lifecycle, watches — domain logic and the real gRPC server."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import duration_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from omega.registry.v1 import registry_pb2 as pb
from omega.registry.v1 import registry_pb2_grpc

from federation.errors import FailedPrecondition, NotFound
from federation.registry.service import AgentCard, AgentFilter, AgentRegistry, AgentState

WAIT_S = 5.0


def card(name: str = "triage-1", **kw: object) -> AgentCard:
    base: dict[str, object] = {
        "name": name,
        "team": "triage",
        "endpoint": f"{name}.agents.local:50061",
        "capabilities": ("triage",),
    }
    base.update(kw)
    return AgentCard(**base)  # type: ignore[arg-type]


def pb_card(name: str = "triage-1", team: str = "triage", caps: tuple[str, ...] = ("triage",)) -> pb.AgentCard:
    return pb.AgentCard(
        name=name,
        team=team,
        version="1.0.0",
        endpoint=f"127.0.0.1:4{len(name)}00",
        capabilities=list(caps),
        skills=[pb.AgentSkill(id="triage-ticket", name="Triage", description="Classify a ticket")],
        max_in_flight=4,
    )


async def test_lease_lapses_into_lost_without_heartbeat(registry: AgentRegistry, clock) -> None:
    agent = await registry.register(card())
    await registry.update_state(agent.agent_id, AgentState.READY)
    clock.advance(9.9)
    assert (await registry.get(agent.agent_id)).state is AgentState.READY
    clock.advance(0.2)
    lost = await registry.get(agent.agent_id)
    assert lost.state is AgentState.LOST
    assert lost.state_reason == "lease expired"
    assert await registry.list_agents() == []  # lost agents are not live


async def test_heartbeat_keeps_the_lease_alive(registry: AgentRegistry, clock) -> None:
    agent = await registry.register(card())
    for _ in range(5):
        clock.advance(8.0)
        await registry.heartbeat(agent.agent_id, in_flight=1)
    assert (await registry.get(agent.agent_id)).state is AgentState.PENDING
    clock.advance(10.0)
    with pytest.raises(FailedPrecondition) as err:
        await registry.heartbeat(agent.agent_id)
    assert err.value.reason == "AGENT_LOST"


async def test_reregistration_supersedes_the_old_registration(registry: AgentRegistry) -> None:
    first = await registry.register(card())
    second = await registry.register(card())
    assert first.agent_id != second.agent_id
    old = await registry.get(first.agent_id)
    assert old.state is AgentState.STOPPED and old.state_reason == "superseded"
    assert [a.agent_id for a in await registry.list_agents()] == [second.agent_id]


async def test_long_gone_agents_are_forgotten(registry: AgentRegistry, clock) -> None:
    gone = await registry.register(card("old"))
    clock.advance(11.0)
    assert (await registry.get(gone.agent_id)).state is AgentState.LOST
    clock.advance(3601.0)
    await registry.register(card("new"))
    with pytest.raises(NotFound):
        await registry.get(gone.agent_id)


async def test_list_filters_by_team_capability_and_tenant(registry: AgentRegistry) -> None:
    await registry.register(card("t1"))
    await registry.register(card("s1", team="shadow", capabilities=("shadow",), tenants=("acme",)))
    await registry.register(card("s2", team="shadow", capabilities=("shadow",)))
    names = lambda agents: sorted(a.card.name for a in agents)  # noqa: E731
    assert names(await registry.list_agents(AgentFilter(team="shadow"))) == ["s1", "s2"]
    assert names(await registry.list_agents(AgentFilter(capability="triage"))) == ["t1"]
    assert names(await registry.list_agents(AgentFilter(capability="shadow", tenant="globex"))) == ["s2"]
    assert names(await registry.list_agents(AgentFilter(capability="shadow", tenant="acme"))) == ["s1", "s2"]


async def test_lifecycle_is_enforced_over_grpc(channel: grpc.aio.Channel) -> None:
    stub = registry_pb2_grpc.AgentRegistryServiceStub(channel)
    reg = await stub.RegisterAgent(
        pb.RegisterAgentRequest(card=pb_card(), lease_ttl=duration_pb2.Duration(seconds=30)),
        timeout=WAIT_S,
    )
    agent_id = reg.agent.agent_id
    assert reg.agent.state == pb.AGENT_STATE_PENDING
    assert reg.lease_ttl.seconds == 30

    async def move(state: int) -> pb.Agent:
        res = await stub.UpdateAgentState(
            pb.UpdateAgentStateRequest(agent_id=agent_id, state=state), timeout=WAIT_S
        )
        return res.agent

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await move(pb.AGENT_STATE_BUSY)  # PENDING -> BUSY skips READY
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    for state in (pb.AGENT_STATE_READY, pb.AGENT_STATE_BUSY, pb.AGENT_STATE_READY):
        assert (await move(state)).state == state
    hb = await stub.Heartbeat(
        pb.HeartbeatRequest(agent_id=agent_id, in_flight=3, state=pb.AGENT_STATE_DRAINING),
        timeout=WAIT_S,
    )
    assert hb.agent.state == pb.AGENT_STATE_DRAINING and hb.agent.in_flight == 3
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await move(pb.AGENT_STATE_READY)  # DRAINING never goes back
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (await move(pb.AGENT_STATE_STOPPED)).state == pb.AGENT_STATE_STOPPED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Heartbeat(pb.HeartbeatRequest(agent_id=agent_id), timeout=WAIT_S)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetAgent(pb.GetAgentRequest(agent_id="nope"), timeout=WAIT_S)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.RegisterAgent(pb.RegisterAgentRequest(card=pb.AgentCard(name="x")), timeout=WAIT_S)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_lapsed_lease_fails_heartbeat_with_failed_precondition(
    channel: grpc.aio.Channel, clock
) -> None:
    stub = registry_pb2_grpc.AgentRegistryServiceStub(channel)
    reg = await stub.RegisterAgent(pb.RegisterAgentRequest(card=pb_card()), timeout=WAIT_S)
    clock.advance(11.0)
    got = await stub.GetAgent(pb.GetAgentRequest(agent_id=reg.agent.agent_id), timeout=WAIT_S)
    assert got.agent.state == pb.AGENT_STATE_LOST
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Heartbeat(pb.HeartbeatRequest(agent_id=reg.agent.agent_id), timeout=WAIT_S)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_list_agents_pages(channel: grpc.aio.Channel) -> None:
    stub = registry_pb2_grpc.AgentRegistryServiceStub(channel)
    for i in range(5):
        await stub.RegisterAgent(pb.RegisterAgentRequest(card=pb_card(f"agent-{i}")), timeout=WAIT_S)
    seen: list[str] = []
    token = ""
    while True:
        page = await stub.ListAgents(pb.ListAgentsRequest(page_size=2, page_token=token), timeout=WAIT_S)
        seen += [a.card.name for a in page.agents]
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == [f"agent-{i}" for i in range(5)]


async def test_watch_streams_snapshot_then_changes(
    channel: grpc.aio.Channel, registry: AgentRegistry, clock
) -> None:
    stub = registry_pb2_grpc.AgentRegistryServiceStub(channel)
    first = await stub.RegisterAgent(pb.RegisterAgentRequest(card=pb_card("a")), timeout=WAIT_S)
    await stub.RegisterAgent(
        pb.RegisterAgentRequest(card=pb_card("other", team="shadow", caps=("shadow",))),
        timeout=WAIT_S,
    )
    call = stub.WatchAgents(pb.WatchAgentsRequest(filter=pb.AgentFilter(team="triage")))
    events = call.__aiter__()

    async def next_event() -> pb.WatchAgentsResponse:
        return await asyncio.wait_for(events.__anext__(), WAIT_S)

    snap = await next_event()
    assert snap.type == pb.WATCH_EVENT_TYPE_SNAPSHOT and snap.agent.card.name == "a"
    assert (await next_event()).type == pb.WATCH_EVENT_TYPE_SYNCED

    second = await stub.RegisterAgent(pb.RegisterAgentRequest(card=pb_card("b")), timeout=WAIT_S)
    ev = await next_event()
    assert ev.type == pb.WATCH_EVENT_TYPE_REGISTERED and ev.agent.agent_id == second.agent.agent_id

    await stub.UpdateAgentState(
        pb.UpdateAgentStateRequest(agent_id=first.agent.agent_id, state=pb.AGENT_STATE_READY),
        timeout=WAIT_S,
    )
    ev = await next_event()
    assert ev.type == pb.WATCH_EVENT_TYPE_UPDATED and ev.agent.state == pb.AGENT_STATE_READY

    await stub.Heartbeat(pb.HeartbeatRequest(agent_id=second.agent.agent_id), timeout=WAIT_S)
    clock.advance(6.0)
    await stub.Heartbeat(pb.HeartbeatRequest(agent_id=second.agent.agent_id), timeout=WAIT_S)
    clock.advance(6.0)  # "a" last renewed 12 s ago (lease 10 s); "b" 6 s ago
    registry.expire_leases()  # what the reaper does on its tick
    ev = await next_event()
    assert ev.type == pb.WATCH_EVENT_TYPE_UPDATED
    assert ev.agent.agent_id == first.agent.agent_id and ev.agent.state == pb.AGENT_STATE_LOST
    assert ev.revision > snap.revision  # heartbeats without changes sent nothing in between
    call.cancel()


async def test_watch_overflow_ends_the_stream_with_unavailable() -> None:
    registry = AgentRegistry(watch_queue_size=2)
    stream = registry.watch().__aiter__()
    assert (await stream.__anext__()).agent is None  # SYNCED on an empty registry
    for i in range(5):
        await registry.register(card(f"a{i}"))
    got = []
    with pytest.raises(Exception) as err:
        while True:
            got.append(await asyncio.wait_for(stream.__anext__(), WAIT_S))
    assert getattr(err.value, "reason", "") == "WATCH_OVERFLOW"
    assert len(got) == 1  # one queued event survived; the watcher must watch again


async def test_server_has_health_and_reflection(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    res = await health.Check(
        health_pb2.HealthCheckRequest(service="omega.registry.v1.AgentRegistryService"),
        timeout=WAIT_S,
    )
    assert res.status == health_pb2.HealthCheckResponse.SERVING
