"""Federation Core: capability routing (load, tenant affinity, consistent hashing, agent loss)
and service discovery, in-process and over a real gRPC server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from omega.federation.v1 import federation_pb2 as fpb
from omega.federation.v1 import federation_pb2_grpc
from omega.registry.v1 import registry_pb2 as rpb

from federation.core.directory import WatchedAgentDirectory
from federation.core.hosting import ServiceServer
from federation.core.probe import GrpcHealthProbe
from federation.core.server import CoreDeps
from federation.core.server import create_server as create_core_server
from federation.core.service import FederationCore, Verdict
from federation.errors import InvalidArgument, NotFound, Unavailable
from federation.registry.server import RegistryDeps
from federation.registry.server import create_server as create_registry_server
from federation.registry.service import Agent, AgentCard, AgentRegistry, AgentState
from federation.serving import add_health_and_reflection, new_server
from mesh.settings import OmegaSettings

WAIT_S = 5.0


class ManualClock:
    """A clock tests move by hand (seconds since the epoch)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def registry(clock: ManualClock) -> AgentRegistry:
    return AgentRegistry(clock=clock, default_lease_s=10.0)


async def ready_agent(
    registry: AgentRegistry,
    name: str,
    *,
    capability: str = "triage",
    endpoint: str = "",
    tenants: tuple[str, ...] = (),
    in_flight: int = 0,
    max_in_flight: int = 4,
) -> Agent:
    """Register an agent, make it READY and report its load."""
    card = AgentCard(
        name=name,
        team=capability,
        endpoint=endpoint or f"{name}.agents.local:50061",
        capabilities=(capability,),
        tenants=tenants,
        max_in_flight=max_in_flight,
    )
    agent = await registry.register(card)
    return await registry.heartbeat(agent.agent_id, in_flight=in_flight, state=AgentState.READY)


def settings(tmp: Path) -> OmegaSettings:
    return OmegaSettings(grpc_addr="127.0.0.1:0", data_dir=tmp)


async def test_route_picks_the_least_loaded_ready_agent(registry, clock) -> None:
    core = FederationCore(registry, clock=clock)
    await ready_agent(registry, "t1", in_flight=3)
    t2 = await ready_agent(registry, "t2", in_flight=1)
    busy = await ready_agent(registry, "t3")
    await registry.update_state(busy.agent_id, AgentState.BUSY)
    decision = await core.route("acme", "triage", task_id="task-1")
    assert decision.agent.agent_id == t2.agent_id
    assert decision.reason.startswith("least-loaded")
    verdicts = {c.agent_name: c.verdict for c in decision.candidates}
    assert verdicts == {"t2": Verdict.CHOSEN, "t1": Verdict.RANKED_LOWER, "t3": Verdict.NOT_READY}


async def test_routes_spread_across_agents_between_heartbeats(registry, clock) -> None:
    core = FederationCore(registry, clock=clock)
    for name in ("a", "b", "c"):
        await ready_agent(registry, name, max_in_flight=4)
    chosen = [(await core.route("acme", "triage", task_id=f"t{i}")).agent.card.name for i in range(9)]
    assert sorted(chosen.count(n) for n in "abc") == [3, 3, 3]


async def test_affinity_key_keeps_its_agent(registry, clock) -> None:
    core = FederationCore(registry, clock=clock)
    agents = [await ready_agent(registry, f"shadow-{i}", capability="shadow") for i in range(4)]
    keys = [f"tech-{i}" for i in range(40)]
    first = {k: (await core.route("acme", "shadow", affinity_key=k)).agent.card.name for k in keys}
    assert len(set(first.values())) > 1  # keys spread over the agents
    # Loads change: a key still stays with its agent.
    for a in agents:
        await registry.heartbeat(a.agent_id, in_flight=3)
    again = {k: (await core.route("acme", "shadow", affinity_key=k)).agent.card.name for k in keys}
    assert again == first
    # One agent leaves: only the keys it held move; every other key stays put.
    gone = agents[0]
    await registry.update_state(gone.agent_id, AgentState.DRAINING)
    after = {k: (await core.route("acme", "shadow", affinity_key=k)).agent.card.name for k in keys}
    for k in keys:
        if first[k] != gone.card.name:
            assert after[k] == first[k]
        else:
            assert after[k] != gone.card.name
    decision = await core.route("acme", "shadow", affinity_key="tech-1")
    assert "rendezvous" in decision.reason


async def test_tenant_affinity_prefers_dedicated_agents_and_hides_others(registry, clock) -> None:
    core = FederationCore(registry, clock=clock)
    shared = await ready_agent(registry, "shared")
    mine = await ready_agent(registry, "acme-only", tenants=("acme",), in_flight=3)
    await ready_agent(registry, "globex-only", tenants=("globex",))
    decision = await core.route("acme", "triage")
    assert decision.agent.agent_id == mine.agent_id  # dedicated wins even when busier
    names = {c.agent_name: c.verdict for c in decision.candidates}
    assert names == {"acme-only": Verdict.CHOSEN, "shared": Verdict.NOT_AFFINE}
    other = await core.route("initech", "triage")
    assert other.agent.agent_id == shared.agent_id
    assert "globex-only" not in {c.agent_name for c in other.candidates}


async def test_route_skips_an_agent_whose_lease_lapsed_in_a_stale_copy(registry, clock) -> None:
    class StaleCopy:
        """A directory that still lists agents the registry has since lost (a watched copy)."""

        def __init__(self, agents) -> None:
            self.agents = agents

        async def list_agents(self, flt=None):
            return list(self.agents)

    a = await ready_agent(registry, "a")
    b = await ready_agent(registry, "b", in_flight=2)
    clock.advance(8.0)
    b = await registry.heartbeat(b.agent_id)
    clock.advance(3.0)  # a's lease (10 s) lapsed, b's has 5 s left
    core = FederationCore(StaleCopy([a, b]), clock=clock)
    decision = await core.route("acme", "triage")
    assert decision.agent.agent_id == b.agent_id
    verdict = {c.agent_name: (c.verdict, c.note) for c in decision.candidates}
    assert verdict["a"] == (Verdict.LOST, "lease expired")
    assert "lost" in decision.reason


async def test_no_agent_or_no_ready_agent_is_unavailable(registry, clock) -> None:
    core = FederationCore(registry, clock=clock)
    with pytest.raises(Unavailable) as err:
        await core.route("acme", "triage")
    assert err.value.reason == "NO_AGENT_FOR_CAPABILITY"
    agent = await ready_agent(registry, "t1")
    await registry.update_state(agent.agent_id, AgentState.BUSY)
    with pytest.raises(Unavailable) as err:
        await core.route("acme", "triage")
    assert err.value.reason == "NO_READY_AGENT"
    with pytest.raises(InvalidArgument):
        await core.route("acme", "")


async def test_excluded_and_reported_agents_are_skipped_for_a_while(registry, clock) -> None:
    core = FederationCore(registry, clock=clock, quarantine_s=5.0)
    a = await ready_agent(registry, "a")
    b = await ready_agent(registry, "b")
    d = await core.route("acme", "triage", exclude=[a.agent_id])
    assert d.agent.agent_id == b.agent_id
    core.report_failure(b.agent_id)
    assert (await core.route("acme", "triage")).agent.agent_id == a.agent_id
    clock.advance(4.0)
    for agent in (a, b):
        await registry.heartbeat(agent.agent_id)
    core.report_failure(a.agent_id)
    with pytest.raises(Unavailable):
        await core.route("acme", "triage")  # both quarantined
    clock.advance(2.0)  # t=6: b's quarantine (until 5) is over, a's (until 9) is not
    for agent in (a, b):
        await registry.heartbeat(agent.agent_id)
    assert (await core.route("acme", "triage")).agent.agent_id == b.agent_id


async def test_service_discovery_from_configuration_and_registrations(clock) -> None:
    core = FederationCore(
        AgentRegistry(clock=clock), clock=clock, services={"ingest": ["127.0.0.1:50051"]}
    )
    await core.register_endpoint("context", "127.0.0.1:50070", ttl_s=10.0)
    await core.register_endpoint("ingest", "127.0.0.1:50052", ttl_s=10.0)
    ingest = await core.resolve("ingest")
    assert [(e.address, e.source.value) for e in ingest] == [
        ("127.0.0.1:50051", "CONFIGURATION"),
        ("127.0.0.1:50052", "REGISTRATION"),
    ]
    assert [e.address for e in await core.resolve("context")] == ["127.0.0.1:50070"]
    clock.advance(10.1)
    with pytest.raises(NotFound):
        await core.resolve("context")  # the registration lapsed
    assert [e.address for e in await core.resolve("ingest")] == ["127.0.0.1:50051"]


# -- over gRPC --------------------------------------------------------------------------------


async def _health_server() -> tuple[grpc.aio.Server, int]:
    server = new_server()
    health = add_health_and_reflection(server, [])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await health.set(True)
    return server, port


@pytest.fixture
async def agent_servers() -> AsyncIterator[list[tuple[grpc.aio.Server, int]]]:
    servers = [await _health_server() for _ in range(2)]
    try:
        yield servers
    finally:
        for server, _ in servers:
            await server.stop(0)


async def test_route_task_over_grpc_retries_elsewhere_when_the_agent_is_down(
    tmp_path: Path, clock: ManualClock, registry: AgentRegistry, agent_servers
) -> None:
    """Two agents with real health endpoints; the one the key hashes to dies; RouteTask tries it,
    finds it down and routes to the other, saying so."""
    agents = [
        await ready_agent(registry, f"shadow-{i}", capability="shadow", endpoint=f"127.0.0.1:{port}")
        for i, (_, port) in enumerate(agent_servers)
    ]
    probe = GrpcHealthProbe(timeout_s=1.0, cache_s=0.0)
    core = FederationCore(registry, clock=clock, probe=probe)
    srv = create_core_server(settings(tmp_path), CoreDeps(core))
    await srv.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{srv.port}") as ch:
            stub = federation_pb2_grpc.FederationServiceStub(ch)
            req = fpb.RouteTaskRequest(tenant="acme", capability="shadow", affinity_key="tech-42")
            first = await stub.RouteTask(req, timeout=WAIT_S)
            assert first.attempts == 1
            home = first.agent.agent_id
            idx = [a.agent_id for a in agents].index(home)
            await agent_servers[idx][0].stop(0)  # the technician's agent dies (lease still valid)
            moved = await stub.RouteTask(req, timeout=WAIT_S)
            assert moved.agent.agent_id != home and moved.attempts == 2
            assert moved.candidates_considered == 2
            lost = [c for c in moved.candidates if c.agent_id == home][0]
            assert lost.verdict == fpb.CANDIDATE_VERDICT_LOST
            assert moved.candidates[0].verdict == fpb.CANDIDATE_VERDICT_CHOSEN
            assert "routed elsewhere" in moved.reason
            assert moved.agent.state == rpb.AGENT_STATE_READY

            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.RouteTask(
                    fpb.RouteTaskRequest(tenant="acme", capability="nothing"), timeout=WAIT_S
                )
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.RouteTask(
                    fpb.RouteTaskRequest(tenant="Bad Tenant!", capability="shadow"), timeout=WAIT_S
                )
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            await stub.RegisterServiceEndpoint(
                fpb.RegisterServiceEndpointRequest(service="context", address="127.0.0.1:1"),
                timeout=WAIT_S,
            )
            res = await stub.ResolveService(fpb.ResolveServiceRequest(service="context"), timeout=WAIT_S)
            assert [e.source for e in res.endpoints] == [fpb.SERVICE_ENDPOINT_SOURCE_REGISTRATION]
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.ResolveService(fpb.ResolveServiceRequest(service="nope"), timeout=WAIT_S)
            assert err.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        await srv.stop(0.2)
        await probe.aclose()


async def test_watched_directory_routes_from_a_remote_registry(tmp_path: Path) -> None:
    """A Core in its own process: its directory follows the registry over WatchAgents."""
    registry = AgentRegistry()
    reg_srv: ServiceServer = create_registry_server(settings(tmp_path), RegistryDeps(registry))
    await reg_srv.start()
    ch = grpc.aio.insecure_channel(f"127.0.0.1:{reg_srv.port}")
    directory = WatchedAgentDirectory(ch)
    directory.start()
    try:
        await asyncio.wait_for(directory.synced.wait(), WAIT_S)
        core = FederationCore(directory)
        with pytest.raises(Unavailable):
            await core.route("acme", "triage")
        agent = await ready_agent(registry, "remote-1")
        await asyncio.wait_for(
            directory.wait_for(lambda agents: any(a.state is AgentState.READY for a in agents)),
            WAIT_S,
        )
        assert (await core.route("acme", "triage")).agent.agent_id == agent.agent_id
        await registry.update_state(agent.agent_id, AgentState.DRAINING)
        await registry.update_state(agent.agent_id, AgentState.STOPPED)
        await asyncio.wait_for(directory.wait_for(lambda agents: not agents), WAIT_S)
        with pytest.raises(Unavailable):
            await core.route("acme", "triage")
    finally:
        await directory.stop()
        await ch.close()
        await reg_srv.stop(0.2)


async def test_the_answer_lists_the_chosen_the_skipped_and_a_few_runners_up(registry, clock) -> None:
    core = FederationCore(registry, clock=clock, runners_up=2)
    agents = [await ready_agent(registry, f"a{i:02d}", in_flight=i % 4) for i in range(10)]
    await registry.update_state(agents[3].agent_id, AgentState.DRAINING)
    decision = await core.route("acme", "triage", exclude=[agents[5].agent_id])
    verdicts = [c.verdict for c in decision.candidates]
    assert verdicts == [Verdict.CHOSEN, Verdict.NOT_READY, Verdict.EXCLUDED,
                        Verdict.RANKED_LOWER, Verdict.RANKED_LOWER]
    assert decision.considered == 10
    loads = [c.load for c in decision.candidates if c.verdict in (Verdict.CHOSEN, Verdict.RANKED_LOWER)]
    assert loads == sorted(loads)  # runners-up in rank order
