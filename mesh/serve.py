"""``omega serve <name>``: run ONE deployable in this process (a Kubernetes pod, or one child of
``omega up --processes``).

Every deployable serves ``grpc.health.v1`` (and reflection) on ``OMEGA_GRPC_ADDR``; the gateway
also serves ``GET /healthz`` and the webhooks on ``OMEGA_HTTP_ADDR``. Deployables reach each
other through ``OMEGA_<SERVICE>_ADDR``. A deployable is a list of mesh Components (the same ones
the embedded mesh hosts all together), made by a factory in ``DEPLOYABLES``; a team's pipeline
steps run as capacity-managed worker tasks. The store is shared (no data-dir lock, no lease
release at start: leases held by a dead process come back after the visibility timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import uvicorn
from omega.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from omega.tickets.v1 import ticket_service_pb2, ticket_service_pb2_grpc
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from backends.factory import open_store
from federation.components import (
    AgentRegistryComponent,
    CapacityComponent,
    FederationCoreComponent,
    FederationSettings,
    McpRegistryComponent,
    OrchestratorComponent,
    PipelineTeams,
    _NoSteps,
    team_agents,
)
from federation.errors import FailedPrecondition, OmegaError, Unavailable
from federation.ingest.service import IngestService
from federation.ingest.servicer import IngestServicer
from federation.interceptors import client_interceptors
from federation.serving import ServingStatus, add_health_and_reflection, new_server
from federation.tickets.servicer import TicketServicer
from mesh.components import Component, MeshContext
from mesh.heap import settle_heap
from mesh.http import start_http
from mesh.settings import OmegaSettings
from teams.pipeline import DeliveryPolicy, PipelineRunner, Step

log = logging.getLogger(__name__)


class NotDeployable(Exception):
    """The name is not a deployable, or nothing provides it yet."""


# ---- components only a standalone deployable needs ----------------------------------------
class IngestComponent(_NoSteps):
    """IngestService and TicketService over the shared store."""

    name = "ingest"

    def __init__(self) -> None:
        self._ctx: MeshContext | None = None
        self._ingest: IngestService | None = None

    async def start(self, ctx: MeshContext) -> None:
        self._ctx = ctx
        self._ingest = IngestService(ctx.store.journal, ctx.store.dead_letters, ctx.tenants)
        ctx.services["ingest"] = self._ingest

    def add_to_grpc(self, server: grpc.aio.Server) -> list[str]:
        assert self._ctx is not None and self._ingest is not None
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(IngestServicer(self._ingest), server)
        ticket_service_pb2_grpc.add_TicketServiceServicer_to_server(
            TicketServicer(self._ctx.store.tickets, self._ctx.tenants), server
        )
        return [
            ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name,
            ticket_service_pb2.DESCRIPTOR.services_by_name["TicketService"].full_name,
        ]


class GatewayComponent(_NoSteps):
    """The HTTP edge: PSA webhooks (forwarded to ingest at ``OMEGA_INGEST_ADDR``) and /healthz."""

    name = "gateway"

    def __init__(self, fs: FederationSettings) -> None:
        self._fs = fs
        self._webhooks: Any = None
        self._client: Any = None
        self._channel: grpc.aio.Channel | None = None

    async def start(self, ctx: MeshContext) -> None:
        from federation.gateway.webhooks import WebhookReceiver
        from sdk.client import OmegaClient

        if not self._fs.ingest_addr:
            raise FailedPrecondition("the gateway needs OMEGA_INGEST_ADDR", reason="NO_INGEST_ADDR")
        # Trace context and deadlines travel on to ingest (federation.interceptors).
        self._channel = grpc.aio.insecure_channel(
            self._fs.ingest_addr, interceptors=client_interceptors()
        )
        self._client = OmegaClient(self._fs.ingest_addr, timeout_s=10.0, channel=self._channel)
        self._webhooks = WebhookReceiver(self._client, ctx.tenants)

    def add_to_grpc(self, server: grpc.aio.Server) -> list[str]:
        return []

    def routes(self) -> list[BaseRoute]:
        return list(self._webhooks.routes())

    async def stop(self) -> None:
        if self._webhooks is not None:
            await self._webhooks.aclose()
        if self._channel is not None:
            await self._channel.close()


class TriageTeamComponent(_NoSteps):
    """The triage team: the local Titan, the triage pipeline step and the TriageService."""

    name = "triage"

    def __init__(self, fs: FederationSettings) -> None:
        self._fs = fs
        self._steps: list[Step] = []
        self._service: Any = None
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="triage")

    async def start(self, ctx: MeshContext) -> None:
        from mesh.app import local_titan
        from teams.triage.component import TriageServiceComponent
        from teams.triage.step import TOPIC_TRIAGED, TriageStep
        from titans.local.embedding import MiniLMEmbedder

        embedder = (
            await asyncio.to_thread(MiniLMEmbedder.load) if self._fs.triage_embeddings else None
        )
        triager = local_titan(ctx.settings, ctx.tenants, embedder)
        await asyncio.to_thread(triager.model, ctx.settings.default_tenant)
        ctx.services["triage"], ctx.services["embedder"] = triager, embedder
        step = TriageStep(ctx.store, triager, embedder=embedder, executor=self._executor)
        if "shadow" in self._fs.teams.split(","):
            step.next_topic = TOPIC_TRIAGED
        self._steps = [step]
        self._service = TriageServiceComponent()
        await self._service.start(ctx)

    def add_to_grpc(self, server: grpc.aio.Server) -> list[str]:
        return list(self._service.add_to_grpc(server))

    def steps(self) -> list[Step]:
        return list(self._steps)

    async def stop(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _context_server(fs: FederationSettings) -> list[Component]:
    try:
        from context.component import ContextComponent  # type: ignore[attr-defined]
    except ImportError as exc:
        raise NotDeployable(
            "context-server: no mesh component provides it yet (context/component.py "
            f"ContextComponent): {exc}"
        ) from None
    return [ContextComponent()]


def _shadow(fs: FederationSettings) -> list[Component]:
    from teams.shadow.component import ShadowComponent

    return [ShadowComponent(), CapacityComponent(fs, ["shadow"])]


def _nothing(name: str) -> Callable[[FederationSettings], list[Component]]:
    def fail(fs: FederationSettings) -> list[Component]:
        raise NotDeployable(f"{name}: nothing provides this deployable yet")

    return fail


# name → the components that make it up (names exactly as in mesh/k8s/base).
DEPLOYABLES: dict[str, Callable[[FederationSettings], list[Component]]] = {
    "ingest": lambda fs: [IngestComponent()],
    "gateway": lambda fs: [GatewayComponent(fs)],
    "orchestrator": lambda fs: [
        OrchestratorComponent(normalize=True), CapacityComponent(fs, ["orchestrator"])
    ],
    "context-server": _context_server,
    "federation-core": lambda fs: [FederationCoreComponent(fs)],
    "agent-registry": lambda fs: [AgentRegistryComponent()],
    "mcp-registry": lambda fs: [McpRegistryComponent(fs)],
    "capacity-manager": lambda fs: [CapacityComponent(fs)],
    "triage": lambda fs: [TriageTeamComponent(fs), CapacityComponent(fs, ["triage"])],
    "shadow": _shadow,
    "analytics": _nothing("analytics"),
}
HTTP_DEPLOYABLES = frozenset({"gateway"})


def components_for(name: str, fs: FederationSettings) -> list[Component]:
    """The components of deployable ``name`` (NotDeployable when unknown or not built yet)."""
    factory = DEPLOYABLES.get(name)
    if factory is None:
        raise NotDeployable(f"unknown deployable {name!r}; one of: {', '.join(DEPLOYABLES)}")
    return factory(fs)


class Deployable:
    """One deployable in this process: its components on one gRPC port (+ HTTP for the gateway)."""

    def __init__(self, name: str, settings: OmegaSettings, fs: FederationSettings | None = None,
                 components: list[Component] | None = None) -> None:
        self.name = name
        self.settings = settings
        self.fs = fs or FederationSettings()
        self.components = components if components is not None else components_for(name, self.fs)
        self.grpc_port = 0
        self.http_port = 0
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="omega-cpu")
        self._store: Any = None
        self._grpc: grpc.aio.Server | None = None
        self._health: ServingStatus | None = None
        self._runner: PipelineRunner | None = None
        self._agents: Any = None
        self._agents_channel: Any = None
        self._http: uvicorn.Server | None = None
        self._http_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        s = self.settings
        tenants = s.tenant_directory()
        self._store = open_store(s)
        ctx = MeshContext(s, tenants, self._store, self._executor)
        self.ctx = ctx
        # Health first, NOT_SERVING until everything is up (a team loads its model meanwhile).
        self._grpc = new_server()
        steps: list[Step] = []
        for c in self.components:
            await c.start(ctx)
            steps += c.steps()
        teams = None
        if steps:
            policy = DeliveryPolicy(
                max_attempts=s.max_attempts, visibility_s=s.visibility_timeout_s,
                backoff_s=s.retry_backoff_s, backoff_max_s=s.retry_backoff_max_s,
                batch=max(1, self.fs.pipeline_batch),
            )
            teams = PipelineTeams(self._store, steps, policy)
            managed = any(
                getattr(c, "bind_pipeline", None) is not None and c.bind_pipeline(teams)
                for c in self.components
            )
            if not managed:
                self._runner = PipelineRunner(self._store, steps, policy)
        names: list[str] = []
        for c in self.components:
            names += c.add_to_grpc(self._grpc)
        self._health = add_health_and_reflection(self._grpc, names)
        self.grpc_port = self._grpc.add_insecure_port(s.grpc_addr)
        await self._grpc.start()
        host = s.grpc_addr.rpartition(":")[0].strip("[]")
        ctx.grpc_target = f"{'127.0.0.1' if host in ('', '0.0.0.0', '::') else host}:{self.grpc_port}"
        if self.name in HTTP_DEPLOYABLES:
            await self._start_http()
            ctx.http_port = self.http_port
        if self._runner is not None:
            self._runner.start(s.workers)
        for c in self.components:
            await c.serving(ctx)
        if teams is not None:
            registered = team_agents(ctx, teams, self.fs)
            if registered is not None:
                self._agents, self._agents_channel = registered
                self._agents.start()
        await self._health.set(True)
        log.info("omega serve %s up: grpc=%s http=%s", self.name, ctx.grpc_target, self.http_port)

    async def _start_http(self) -> None:
        routes: list[BaseRoute] = [Route("/healthz", self._healthz)]
        for c in self.components:
            routes += c.routes()
        self._http, self._http_task, self.http_port = await start_http(
            self.settings.http_addr, routes
        )

    async def _healthz(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "deployable": self.name})

    async def stop(self, grace_s: float = 5.0) -> None:
        if self._health is not None:
            await self._health.set(False)
        if self._http is not None:
            self._http.should_exit = True
            if self._http_task is not None:
                await asyncio.gather(self._http_task, return_exceptions=True)
        if self._agents is not None:
            await self._agents.stop()
        if self._agents_channel is not None:
            await self._agents_channel.close()
        if self._grpc is not None:
            await self._grpc.stop(grace_s)
        if self._runner is not None:
            await self._runner.stop()
        for c in reversed(self.components):
            try:
                await c.stop()
            except Exception:  # noqa: BLE001 - stop the rest regardless
                log.exception("component %s failed to stop", c.name)
        if self._store is not None:
            self._store.close()
        self._executor.shutdown(wait=False, cancel_futures=True)


async def serve(name: str, settings: OmegaSettings) -> int:
    """Run deployable ``name`` until SIGTERM/SIGINT; returns the exit status."""
    try:
        deployable = Deployable(name, settings)
    except NotDeployable as exc:
        print(f"omega serve: {exc}", flush=True)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await deployable.start()
    except OmegaError as exc:  # configuration (a missing policies file), a store that is down
        await deployable.stop(grace_s=0)
        print(f"omega serve {name}: {exc}", file=sys.stderr, flush=True)
        return 1 if isinstance(exc, Unavailable) else 2
    settle_heap()  # the start-up heap out of the garbage collector's reach (mesh/heap.py)
    try:
        await stop.wait()
    finally:
        await deployable.stop()
    return 0
