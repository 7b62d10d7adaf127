"""The federation services as mesh components, and the pipeline's capacity-managed worker teams.

In the embedded mesh (one process) every component shares one gRPC port and the in-process
objects (the Federation Core reads the Agent Registry directly). In ``omega serve <name>`` (one
deployable per process or pod) each reaches the others through ``OMEGA_<SERVICE>_ADDR``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import grpc
from omega.registry.v1 import registry_pb2, registry_pb2_grpc
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.routing import BaseRoute

from backends.sqlite.adapters import EmbeddedStore
from federation.capacity import server as capacity_server
from federation.capacity.policy import ArrivalRate, QueueMetrics, TeamPolicy
from federation.capacity.pool import AsyncioWorkerPool, Worker
from federation.capacity.service import CapacityManager
from federation.core import server as core_server
from federation.core.directory import WatchedAgentDirectory
from federation.core.probe import GrpcHealthProbe
from federation.core.service import AgentDirectory, FederationCore
from federation.errors import FailedPrecondition, NotFound
from federation.mcp_registry import server as mcp_server
from federation.mcp_registry.service import McpRegistry
from federation.orchestrator import server as orchestrator_server
from federation.orchestrator.service import Orchestrator, team_for_step
from federation.registry import server as registry_server
from federation.registry.service import AgentCard, AgentRegistry, AgentSkill, AgentState
from federation.registry.servicer import card_to_proto, duration
from mesh.components import MeshContext
from teams.pipeline import DeliveryPolicy, PipelineRunner, Step

log = logging.getLogger(__name__)

# The mesh's services (Kubernetes Deployments under mesh/k8s/base/services) and teams.
SERVICES = (
    "ingest", "gateway", "orchestrator", "context-server", "federation-core", "agent-registry",
    "mcp-registry", "capacity-manager",
)
TEAMS = ("triage", "shadow", "analytics")


class FederationSettings(BaseSettings):
    """Addresses of the mesh services (``OMEGA_<SERVICE>_ADDR``) and local capacity knobs."""

    model_config = SettingsConfigDict(env_prefix="OMEGA_", frozen=True, extra="ignore")

    ingest_addr: str = ""
    gateway_addr: str = ""
    orchestrator_addr: str = ""
    context_server_addr: str = ""
    federation_core_addr: str = ""
    agent_registry_addr: str = ""
    mcp_registry_addr: str = ""
    capacity_manager_addr: str = ""
    # Local capacity: the triage team keeps this many workers even when idle (0 = scale to zero).
    triage_min_workers: int = 1
    # Other teams' floor (0: they scale to zero after the cool-down) and the idle cool-down.
    team_min_workers: int = 0
    team_idle_cooldown_s: float = 300.0
    capacity_interval_s: float = 1.0
    # Arrival rates are averaged over this window (a team is idle once none arrived in it).
    arrival_window_s: float = 30.0
    # Messages a worker leases at once in ``omega serve`` (keep batch × step time well under
    # the visibility timeout, or leases expire mid-batch and workers redo each other's work).
    pipeline_batch: int = 4
    # The triage team's local Titan uses sentence embeddings (MiniLM); False: lexical features
    # only (much cheaper on a small machine, somewhat less accurate).
    triage_embeddings: bool = True
    # The pipeline teams this mesh runs (triage publishes to the shadow team only if listed).
    teams: str = "triage,shadow"
    # Lease of the pipeline teams' agent registrations (renewed every third of it).
    agent_lease_s: float = 15.0
    # MCP tools every tenant without its own allow-list may see ("" = deny all; "*" = all).
    mcp_default_allow: str | None = None

    def address(self, service: str) -> str:
        """The configured address of ``service`` ("" when not configured)."""
        return str(getattr(self, service.replace("-", "_") + "_addr", "") or "")

    def services(self) -> dict[str, list[str]]:
        """Every configured service address, for the Federation Core's ResolveService."""
        return {name: [self.address(name)] for name in SERVICES if self.address(name)}


class _NoSteps:
    """Defaults for the parts of the Component protocol a component does not use."""

    def routes(self) -> list[BaseRoute]:
        return []

    def steps(self) -> list[Step]:
        return []

    async def serving(self, ctx: MeshContext) -> None:
        return None

    async def stop(self) -> None:
        return None


# ---- Orchestrator --------------------------------------------------------------------------
class OrchestratorComponent(_NoSteps):
    """OrchestratorService (GetTicketTimeline); ``steps`` are the orchestrator's own pipeline
    steps when it runs as its own deployable (the normalize step), none in the embedded mesh."""

    name = "orchestrator"

    def __init__(self, *, normalize: bool = False) -> None:
        self._normalize = normalize
        self._steps: list[Step] = []
        self.orchestrator: Orchestrator | None = None
        self._ctx: MeshContext | None = None

    async def start(self, ctx: MeshContext) -> None:
        self._ctx = ctx
        self.orchestrator = Orchestrator(ctx.store.timeline, ctx.store.tickets)
        ctx.services["orchestrator"] = self.orchestrator
        if self._normalize:
            from teams.normalize import NormalizeStep

            self._steps = [NormalizeStep(ctx.store, ctx.tenants)]

    def add_to_grpc(self, server: grpc.aio.Server) -> list[str]:
        assert self.orchestrator is not None and self._ctx is not None, "start() first"
        return orchestrator_server.add_to_server(server, self.orchestrator, self._ctx.tenants)

    def steps(self) -> list[Step]:
        return list(self._steps)


# ---- Agent Registry ------------------------------------------------------------------------
class AgentRegistryComponent(_NoSteps):
    """The Agent Registry (in memory); publishes ``ctx.services["agent_registry"]``."""

    name = "agent-registry"

    def __init__(self, registry: AgentRegistry | None = None, reap_interval_s: float = 1.0) -> None:
        self.registry = registry or AgentRegistry()
        self._reap_interval_s = reap_interval_s

    async def start(self, ctx: MeshContext) -> None:
        ctx.services["agent_registry"] = self.registry
        self.registry.start(self._reap_interval_s)

    def add_to_grpc(self, server: grpc.aio.Server) -> list[str]:
        return registry_server.add_to_server(server, self.registry)

    async def stop(self) -> None:
        await self.registry.stop()


# ---- Federation Core -----------------------------------------------------------------------
class FederationCoreComponent(_NoSteps):
    """Routing and service discovery. Its directory is the in-process registry when the mesh has
    one, else a watched copy of the registry at ``OMEGA_AGENT_REGISTRY_ADDR``. Configured service
    addresses come from ``OMEGA_<SERVICE>_ADDR``; in the embedded mesh every service not
    configured resolves to the mesh's own gRPC address."""

    name = "federation-core"

    def __init__(self, settings: FederationSettings | None = None, *, probe: bool = True) -> None:
        self._settings = settings or FederationSettings()
        self._probe = GrpcHealthProbe() if probe else None
        self.core: FederationCore | None = None
        self._channel: grpc.aio.Channel | None = None
        self._watched: WatchedAgentDirectory | None = None
        self._default_tenant = ""
        self._renew: asyncio.Task[None] | None = None

    async def start(self, ctx: MeshContext) -> None:
        self._default_tenant = ctx.settings.default_tenant
        directory: AgentDirectory | None = ctx.services.get("agent_registry")
        if directory is None:
            addr = self._settings.agent_registry_addr
            if not addr:
                raise FailedPrecondition(
                    "the Federation Core needs the Agent Registry: set OMEGA_AGENT_REGISTRY_ADDR",
                    reason="NO_AGENT_REGISTRY",
                )
            self._channel = grpc.aio.insecure_channel(addr)
            self._watched = WatchedAgentDirectory(self._channel)
            self._watched.start()
            directory = self._watched
        self.core = FederationCore(directory, probe=self._probe, services=self._settings.services())
        ctx.services["federation_core"] = self.core

    def add_to_grpc(self, server: grpc.aio.Server) -> list[str]:
        assert self.core is not None, "start() first"
        return core_server.add_to_server(server, self.core, self._default_tenant)

    async def serving(self, ctx: MeshContext) -> None:
        if ctx.services.get("agent_registry") is None or not ctx.grpc_target:
            return  # its own deployable: only the configured addresses
        self._renew = asyncio.create_task(self._register_self(ctx.grpc_target))

    async def _register_self(self, target: str, ttl_s: float = 30.0) -> None:
        """Embedded: every service not configured elsewhere answers on the mesh's own port."""
        assert self.core is not None
        configured = self._settings.services()
        while True:
            for name in SERVICES:
                if name not in configured:
                    await self.core.register_endpoint(name, target, ttl_s)
            await asyncio.sleep(ttl_s / 3)

    async def stop(self) -> None:
        if self._renew is not None:
            self._renew.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renew
        if self._watched is not None:
            await self._watched.stop()
        if self._channel is not None:
            await self._channel.close()
        if self._probe is not None:
            await self._probe.aclose()


# ---- MCP Registry --------------------------------------------------------------------------
def default_allow_for(settings: FederationSettings, tenant_names: Sequence[str]) -> tuple[str, ...]:
    """``OMEGA_MCP_DEFAULT_ALLOW`` (comma-separated patterns) when set; else every tool for a
    single-tenant install (the embedded default) and nothing for a multi-tenant one."""
    if settings.mcp_default_allow is not None:
        return tuple(p.strip() for p in settings.mcp_default_allow.split(",") if p.strip())
    return ("*",) if len(tenant_names) <= 1 else ()


class McpRegistryComponent(_NoSteps):
    """The MCP Registry; semantic search uses the mesh's embedder when it has one."""

    name = "mcp-registry"

    def __init__(self, settings: FederationSettings | None = None) -> None:
        self._settings = settings or FederationSettings()
        self.registry: McpRegistry | None = None
        self._default_tenant = ""

    async def start(self, ctx: MeshContext) -> None:
        self._default_tenant = ctx.settings.default_tenant
        allow = default_allow_for(self._settings, ctx.tenants.names())
        self.registry = McpRegistry(embedder=ctx.services.get("embedder"), default_allow=allow)
        ctx.services["mcp_registry"] = self.registry

    def add_to_grpc(self, server: grpc.aio.Server) -> list[str]:
        assert self.registry is not None, "start() first"
        return mcp_server.add_to_server(server, self.registry, self._default_tenant)


# ---- pipeline teams -------------------------------------------------------------------------
class PipelineTeams:
    """The pipeline's steps grouped into teams (one per consumed topic, named by
    ``team_for_step``), each a ``Worker`` factory for an ``AsyncioWorkerPool`` and a
    ``QueueMetricsSource`` over the bus (depth, oldest age; arrivals = depth + handled)."""

    def __init__(
        self, store: EmbeddedStore, steps: Sequence[Step], policy: DeliveryPolicy,
        arrival_window_s: float = 30.0,
        *,
        yield_to: Callable[[], bool] | None = None,
    ) -> None:
        self._store = store
        self._policy = policy
        by_team: dict[str, list[Step]] = {}
        for step in steps:
            by_team.setdefault(team_for_step(step.name), []).append(step)
        self._runners = {
            team: PipelineRunner(store, st, policy, yield_to=yield_to)
            for team, st in by_team.items()
        }
        self._handled = dict.fromkeys(by_team, 0)
        self.in_flight = dict.fromkeys(by_team, 0)
        self._arrivals = {team: ArrivalRate(window_s=arrival_window_s) for team in by_team}

    @property
    def names(self) -> list[str]:
        return sorted(self._runners)

    def set_arrival_window(self, window_s: float) -> None:
        self._arrivals = {team: ArrivalRate(window_s=window_s) for team in self._runners}

    def topics(self, team: str) -> list[str]:
        return self._runners[team].topics

    def workers(self) -> dict[str, Worker]:
        return {team: self._worker(team) for team in self._runners}

    def _worker(self, team: str) -> Worker:
        async def work(stop: asyncio.Event) -> None:
            await self.run_worker(team, stop)

        return work

    async def run_worker(self, team: str, stop: asyncio.Event) -> None:
        """Lease and deliver the team's messages until ``stop`` is set (finishing those in
        flight); see ``PipelineRunner.work``."""

        def leased() -> None:
            self.in_flight[team] += 1

        def done() -> None:
            self.in_flight[team] -= 1
            self._handled[team] += 1

        await self._runners[team].work(stop, on_leased=leased, on_done=done)

    async def queue_metrics(self, team: str) -> QueueMetrics:
        depth = await self._store.bus.depth()
        rows = [depth[t] for t in self.topics(team) if t in depth]
        waiting = sum(n for n, _ in rows)
        oldest = max((age for _, age in rows), default=0.0)
        rate = self._arrivals[team].update(time.time(), waiting + self._handled[team])
        return QueueMetrics(depth=waiting, oldest_age_s=oldest, arrival_rate=rate)


def team_policies(
    teams: Sequence[str], settings: FederationSettings, max_workers: int
) -> list[TeamPolicy]:
    """Local policies: triage keeps ``triage_min_workers``; others ``team_min_workers``."""
    out = []
    for team in teams:
        floor = settings.triage_min_workers if team == "triage" else settings.team_min_workers
        top = max(1, max_workers, floor)
        out.append(
            TeamPolicy(
                team=team, min_workers=min(floor, top), max_workers=top, worker_throughput=5.0,
                drain_target_s=30.0, idle_cooldown_s=settings.team_idle_cooldown_s,
                scale_down_window_s=min(60.0, settings.team_idle_cooldown_s),
            )
        )
    return out


# ---- Capacity Manager ------------------------------------------------------------------------
class CapacityComponent(_NoSteps):
    """The Capacity Manager. In a process that runs pipeline steps (the embedded mesh, a team's
    ``omega serve``), the host calls ``bind_pipeline(teams)`` and the manager starts and stops
    the teams' worker tasks itself; without it (the capacity-manager deployable) it decides team
    sizes from the bus for KEDA and for ``ReportQueueMetrics`` callers."""

    name = "capacity-manager"

    def __init__(self, settings: FederationSettings | None = None, teams: Sequence[str] = ()) -> None:
        self._settings = settings or FederationSettings()
        self._team_names = list(teams)
        self.manager: CapacityManager | None = None
        self.pool: AsyncioWorkerPool | None = None
        self._ctx: MeshContext | None = None
        self._source: Any = None

    async def start(self, ctx: MeshContext) -> None:
        self._ctx = ctx
        ctx.services["capacity_component"] = self

    def bind_pipeline(self, teams: PipelineTeams) -> bool:
        """Manage ``teams``' workers in this process (returns True: the host must not start its
        own runner)."""
        assert self._ctx is not None, "start() first"
        teams.set_arrival_window(self._settings.arrival_window_s)
        self.pool = AsyncioWorkerPool(teams.workers(), stop_grace_s=10.0)
        self._build(teams.names, teams, max(1, self._ctx.settings.workers))
        return True

    def _build(self, names: Sequence[str], source: Any, max_workers: int) -> None:
        assert self._ctx is not None
        self._source = source
        self.manager = CapacityManager(
            team_policies(names, self._settings, max_workers), pool=self.pool, source=source
        )
        self._ctx.services["capacity"] = self.manager

    def add_to_grpc(self, server: grpc.aio.Server) -> list[str]:
        assert self._ctx is not None, "start() first"
        if self.manager is None:  # no pipeline here: decide from the shared bus
            names = self._team_names or ["orchestrator", *TEAMS]
            self._build(
                names, BusQueueMetrics(self._ctx.store, self._settings.arrival_window_s),
                self._ctx.settings.workers,
            )
        assert self.manager is not None
        return capacity_server.add_to_server(server, self.manager)

    async def serving(self, ctx: MeshContext) -> None:
        assert self.manager is not None
        await self.manager.reconcile_once()  # the floors (triage's one worker) start now
        self.manager.start(self._settings.capacity_interval_s)
        wakeups = getattr(ctx.store.bus, "wakeups", None)
        if self.pool is not None and wakeups is not None:
            # Workers of this process: a publish for a team scaled to zero starts it at once
            # (other processes' publishes are seen on the next tick).
            wakeups.add_listener(self.manager.wake)

    async def stop(self) -> None:
        if self.manager is not None:
            await self.manager.stop()
        if self.pool is not None:
            await self.pool.aclose()


class BusQueueMetrics:
    """Queue metrics of the standard teams from the shared bus (no local workers)."""

    def __init__(self, store: EmbeddedStore, arrival_window_s: float = 30.0) -> None:
        self._store = store
        self._window_s = arrival_window_s
        self._arrivals: dict[str, ArrivalRate] = {}
        self._last: dict[str, int] = {}
        self._grown: dict[str, int] = {}

    async def queue_metrics(self, team: str) -> QueueMetrics:
        from federation.orchestrator.service import STEP_TEAMS

        topics = [t for t, owner in STEP_TEAMS.items() if owner == team] or [team]
        depth = await self._store.bus.depth()
        rows = [depth[t] for t in topics if t in depth]
        waiting = sum(n for n, _ in rows)
        oldest = max((age for _, age in rows), default=0.0)
        # Arrivals are not counted across processes: growth of the depth stands in for them.
        self._grown[team] = self._grown.get(team, 0) + max(0, waiting - self._last.get(team, 0))
        self._last[team] = waiting
        rate = self._arrivals.setdefault(team, ArrivalRate(self._window_s))
        return QueueMetrics(waiting, oldest, rate.update(time.time(), self._grown[team]))


# ---- the teams as agents ------------------------------------------------------------------
class RegistryPort(Protocol):
    """Register an agent card and keep its lease (in-process registry or gRPC)."""

    async def register(self, card: AgentCard, lease_s: float) -> tuple[str, float]: ...

    async def heartbeat(self, agent_id: str, in_flight: int, ready: bool) -> None: ...


class LocalRegistryPort:
    def __init__(self, registry: AgentRegistry) -> None:
        self._registry = registry

    async def register(self, card: AgentCard, lease_s: float) -> tuple[str, float]:
        agent = await self._registry.register(card, lease_s)
        await self._registry.update_state(agent.agent_id, AgentState.READY)
        return agent.agent_id, agent.lease_ttl_s

    async def heartbeat(self, agent_id: str, in_flight: int, ready: bool) -> None:
        await self._registry.heartbeat(agent_id, in_flight=in_flight)


class GrpcRegistryPort:
    def __init__(self, channel: grpc.aio.Channel, timeout_s: float = 3.0) -> None:
        self._stub = registry_pb2_grpc.AgentRegistryServiceStub(channel)
        self._timeout_s = timeout_s

    async def register(self, card: AgentCard, lease_s: float) -> tuple[str, float]:
        resp = await self._stub.RegisterAgent(
            registry_pb2.RegisterAgentRequest(card=card_to_proto(card), lease_ttl=duration(lease_s)),
            timeout=self._timeout_s,
        )
        await self._stub.Heartbeat(
            registry_pb2.HeartbeatRequest(
                agent_id=resp.agent.agent_id, state=registry_pb2.AGENT_STATE_READY
            ),
            timeout=self._timeout_s,
        )
        return resp.agent.agent_id, resp.lease_ttl.ToNanoseconds() / 1e9

    async def heartbeat(self, agent_id: str, in_flight: int, ready: bool) -> None:
        try:
            await self._stub.Heartbeat(
                registry_pb2.HeartbeatRequest(agent_id=agent_id, in_flight=in_flight),
                timeout=self._timeout_s,
            )
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                raise NotFound("agent unknown to the registry", reason="AGENT_NOT_FOUND") from err
            if err.code() == grpc.StatusCode.FAILED_PRECONDITION:
                raise FailedPrecondition("agent lost", reason="AGENT_LOST") from err
            raise


def team_card(team: str, topics: Sequence[str], endpoint: str, max_in_flight: int) -> AgentCard:
    """The agent card of a pipeline team in this process."""
    return AgentCard(
        name=f"{team}@{socket.gethostname()}:{os.getpid()}",
        team=team,
        endpoint=endpoint,
        capabilities=(team, *topics),
        version="1",
        description=f"OMEGA pipeline team {team} (consumes {', '.join(topics)})",
        skills=tuple(AgentSkill(id=t, name=t, description=f"handles {t} messages") for t in topics),
        max_in_flight=max_in_flight,
        labels=(("kind", "pipeline-team"),),
    )


class TeamAgents:
    """Registers each team of this process as an agent and heartbeats its load; a registry
    that restarted (NOT_FOUND) or declared the agent lost gets a fresh registration."""

    def __init__(
        self, port: RegistryPort, cards: Mapping[str, AgentCard], load: Mapping[str, int],
        lease_s: float = 15.0,
    ) -> None:
        self._port = port
        self._cards = dict(cards)
        self._load = load
        self._lease_s = lease_s
        self.agent_ids: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            for team, card in self._cards.items():
                try:
                    agent_id = self.agent_ids.get(team)
                    if agent_id is None:
                        self.agent_ids[team], _ = await self._port.register(card, self._lease_s)
                    else:
                        await self._port.heartbeat(agent_id, self._load.get(team, 0), True)
                except (NotFound, FailedPrecondition):
                    self.agent_ids.pop(team, None)
                except Exception as exc:  # noqa: BLE001 - the registry may be restarting
                    log.debug("agent registration of team %s failed: %s", team, exc)
            await asyncio.sleep(self._lease_s / 3)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def team_agents(
    ctx: MeshContext, teams: PipelineTeams, settings: FederationSettings
) -> tuple[TeamAgents, grpc.aio.Channel | None] | None:
    """Heartbeating registrations of ``teams``: to the in-process registry when there is one,
    else to ``OMEGA_AGENT_REGISTRY_ADDR``; None when there is no registry at all."""
    channel: grpc.aio.Channel | None = None
    registry = ctx.services.get("agent_registry")
    if registry is not None:
        port: RegistryPort = LocalRegistryPort(registry)
    elif settings.agent_registry_addr:
        channel = grpc.aio.insecure_channel(settings.agent_registry_addr)
        port = GrpcRegistryPort(channel)
    else:
        return None
    cards = {
        t: team_card(t, teams.topics(t), ctx.grpc_target, ctx.settings.workers * 32)
        for t in teams.names
    }
    return TeamAgents(port, cards, teams.in_flight, settings.agent_lease_s), channel


def federation_components(settings: FederationSettings | None = None) -> list[Any]:
    """The federation perimeter for the embedded mesh (Orchestrator, both registries, the
    Federation Core and the Capacity Manager), in start order."""
    fs = settings or FederationSettings()
    return [
        OrchestratorComponent(),
        AgentRegistryComponent(),
        FederationCoreComponent(fs),
        McpRegistryComponent(fs),
        CapacityComponent(fs),
    ]
