"""The embedded mesh: every OMEGA service in one process over the embedded adapters.

``EmbeddedMesh(settings).start()`` opens the store, serves gRPC (ingest, tickets, health,
reflection) and HTTP (webhooks, /healthz), and runs the pipeline. Tests start it on port 0.
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import uvicorn
from omega.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from omega.tickets.v1 import ticket_service_pb2, ticket_service_pb2_grpc
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from backends.factory import open_store
from backends.sqlite.adapters import EmbeddedStore
from federation.components import (
    FederationSettings,
    PipelineTeams,
    TeamAgents,
    federation_components,
    team_agents,
)
from federation.errors import FailedPrecondition
from federation.gateway.webhooks import WebhookReceiver
from federation.ingest.service import IngestService
from federation.ingest.servicer import IngestServicer
from federation.serving import ServingStatus, add_health_and_reflection, new_server
from federation.tickets.servicer import TicketServicer
from mesh.components import Component, MeshContext
from mesh.http import AddressInUse, split_addr, start_http
from mesh.settings import OmegaSettings, TenantDirectory, write_default_tenants_file
from sdk.client import OmegaClient
from teams.normalize import NormalizeStep
from teams.pipeline import DeliveryPolicy, PipelineRunner, Step
from teams.triage.step import TOPIC_TRIAGED, TriageStep
from titans.local.onnx_encoder import lower_thread_priority

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_HISTORY = REPO_ROOT / "demo" / "history"




def local_titan(settings: OmegaSettings, tenants: TenantDirectory, embedder: Any) -> Any:
    """The local Titan (the default triager) as every deployable runs it: the model store
    (``OMEGA_MODELS``), the demo history for a tenant's first model, and each tenant's priority
    rules and precision target from the tenants file (or the policies file, where set)."""
    from backends.factory import open_model_store
    from teams.triage.config import TriagePolicies
    from titans.local.service import LocalTriage

    return LocalTriage(
        settings.data_dir / "models",
        store=open_model_store(settings),
        embedder=embedder,
        demo_history=DEMO_HISTORY,
        tenant_rules=TriagePolicies.load(settings.policies_path).priority_rules(),
        target_precisions=tenants.target_precisions(),
    )


def default_components(settings: OmegaSettings) -> list[Component]:
    """The capabilities the embedded mesh runs besides ingest, tickets and the pipeline."""
    from context.component import ContextComponent  # memory: similar tickets, Learn step
    from mcp_servers.component import McpComponent
    from teams.shadow.component import ShadowComponent  # shadow agents, ShadowService, dashboard
    from teams.triage.component import TriageServiceComponent

    return [
        ContextComponent(),
        TriageServiceComponent(),
        McpComponent(),
        ShadowComponent(),
        *federation_components(),
    ]


class DataDirLock:
    """An exclusive lock on the data directory: one embedded mesh owns one store."""

    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / "omega.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FailedPrecondition(
                f"another OMEGA is running on {self._path.parent}; stop it or set OMEGA_DATA_DIR",
                reason="DATA_DIR_LOCKED",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class EmbeddedMesh:
    """All services in one process. ``triager``/``embedder`` may be injected (tests)."""

    def __init__(
        self,
        settings: OmegaSettings,
        *,
        triager: Any | None = None,
        embedder: Any | None = None,
        components: list[Component] | None = None,
        second_opinion: Any | None = None,
    ) -> None:
        self.settings = settings
        self._second_opinion = second_opinion
        self.components: list[Component] = (
            components if components is not None else default_components(settings)
        )
        self.ctx: MeshContext | None = None
        self._triager = triager
        self._embedder = embedder
        self._lock = DataDirLock(settings.data_dir)
        self.store: EmbeddedStore | None = None
        self.tenants: TenantDirectory | None = None
        self.runner: PipelineRunner | None = None
        self.teams: PipelineTeams | None = None
        self._agents: TeamAgents | None = None
        self._agents_channel: Any = None
        self.grpc_port = 0
        self.http_port = 0
        self._grpc: Any = None
        self._health: ServingStatus | None = None
        self._http: uvicorn.Server | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._webhooks: WebhookReceiver | None = None
        self._client: OmegaClient | None = None
        # The pipeline's CPU work (model passes) runs niced: ingest gets the cores first.
        self._executor = ThreadPoolExecutor(
            max_workers=2,
            thread_name_prefix="omega-cpu",
            initializer=lower_thread_priority,
            initargs=(settings.pipeline_nice,),
        )
        self.created_tenants_file = False

    @property
    def grpc_target(self) -> str:
        host, _ = split_addr(self.settings.grpc_addr)
        return f"{host}:{self.grpc_port}"

    async def start(self) -> None:
        s = self.settings
        self._lock.acquire()
        self.created_tenants_file = write_default_tenants_file(s.tenants_path, s.default_tenant)
        self.tenants = s.tenant_directory()
        self.store = open_store(s)
        released = await self.store.bus.release_all_leases()
        if released:
            log.info("resuming %d in-flight pipeline messages from the last run", released)

        ingest = IngestService(self.store.journal, self.store.dead_letters, self.tenants)
        self.ctx = MeshContext(s, self.tenants, self.store, self._executor)
        self.ctx.services["ingest"] = ingest
        steps = await self._steps()
        for component in self.components:
            await component.start(self.ctx)
            steps += component.steps()
        triage_step = next(st for st in steps if isinstance(st, TriageStep))
        # Publish triaged tickets only when something consumes them (the shadow team), and
        # attach similar past tickets when a component offers them (the Context Server).
        if any(st.name == TOPIC_TRIAGED for st in steps):
            triage_step.next_topic = TOPIC_TRIAGED
        triage_step.similar = self.ctx.services.get("similar_tickets")
        self._grpc = new_server()
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(IngestServicer(ingest), self._grpc)
        ticket_service_pb2_grpc.add_TicketServiceServicer_to_server(
            TicketServicer(self.store.tickets, self.tenants, self.ctx.services.get("shadow")),
            self._grpc,
        )
        names = [
            ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name,
            ticket_service_pb2.DESCRIPTOR.services_by_name["TicketService"].full_name,
        ]
        for component in self.components:
            names += component.add_to_grpc(self._grpc)
        self._health = add_health_and_reflection(self._grpc, names)
        try:
            self.grpc_port = self._grpc.add_insecure_port(s.grpc_addr)
        except RuntimeError as exc:  # grpc reports a failed bind this way
            raise AddressInUse(
                f"cannot listen for gRPC on {s.grpc_addr} ({exc}); choose a free address"
                " (OMEGA_GRPC_ADDR)"
            ) from exc
        await self._grpc.start()

        policy = DeliveryPolicy(
            max_attempts=s.max_attempts,
            visibility_s=s.visibility_timeout_s,
            backoff_s=s.retry_backoff_s,
            backoff_max_s=s.retry_backoff_max_s,
        )
        # With a Capacity Manager among the components, it starts and stops each team's
        # workers (scale to zero when idle); otherwise a fixed PipelineRunner runs them.
        # Ingest first: while a burst is being accepted, the workers lease nothing new.
        self.teams = PipelineTeams(self.store, steps, policy, yield_to=ingest.busy)
        managed = any(
            getattr(c, "bind_pipeline", None) is not None and c.bind_pipeline(self.teams)
            for c in self.components
        )
        if not managed:
            self.runner = PipelineRunner(self.store, steps, policy, yield_to=ingest.busy)
            self.runner.start(s.workers)

        self._client = OmegaClient(self.grpc_target, timeout_s=10.0)
        self._webhooks = WebhookReceiver(self._client, self.tenants)
        await self._start_http()
        self.ctx.grpc_target, self.ctx.http_port = self.grpc_target, self.http_port
        for component in self.components:
            await component.serving(self.ctx)
        registered = team_agents(self.ctx, self.teams, FederationSettings())
        if registered is not None:
            self._agents, self._agents_channel = registered
            self._agents.start()
        await self._health.set(True)
        log.info("OMEGA embedded mesh up: grpc=%s http=%s", self.grpc_target, self.http_port)

    async def _steps(self) -> list[Step]:
        assert self.store is not None and self.tenants is not None
        triager, embedder = self._triager, self._embedder
        if triager is None:
            if embedder is None:
                from titans.local.embedding import MiniLMEmbedder

                embedder = await asyncio.to_thread(
                    functools.partial(
                        MiniLMEmbedder.load,
                        nice=self.settings.pipeline_nice,
                        threads=self.settings.embedding_threads,
                    )
                )
            triager = local_titan(self.settings, self.tenants, embedder)
        assert self.ctx is not None
        self.ctx.services["triage"] = triager
        self.ctx.services["embedder"] = embedder
        warm = getattr(triager, "model", None)
        if callable(warm):
            # Load (or, on a fresh install, train) the default tenant's model before serving:
            # training in this process would otherwise compete with ingest for the GIL.
            await asyncio.to_thread(warm, self.settings.default_tenant)
            await asyncio.to_thread(self._warm_up, triager, embedder)
        return [
            NormalizeStep(self.store, self.tenants),
            TriageStep(
                self.store,
                triager,
                embedder=embedder,
                executor=self._executor,
                batcher=self._batcher(embedder),
                second_opinion=self._titans_router(),
            ),
        ]

    def _warm_up(self, triager: Any, embedder: Any | None) -> None:
        """Run a few synthetic tickets through the model and the embedder before serving.

        The first calls of a fresh process are several times slower (ONNX Runtime sizes its
        memory arena, sklearn and scipy load lazily): without this, the first seconds of
        traffic after a start queue up behind them. Nothing is stored.
        """
        started = time.perf_counter()
        line = "printer offline after the update, users cannot print invoices or send e-mail "
        texts = [line * n for n in (1, 2, 6)]
        try:
            if embedder is not None:
                for size in (1, 4, 16):
                    embedder.embed((texts * size)[:size])
            for text in texts:
                vector = embedder.embed([text])[0] if embedder is not None else None
                triager.triage(
                    self.settings.default_tenant, title="warm-up", description=text,
                    embedding=vector,
                )
        except Exception:  # noqa: BLE001 - warming is an optimisation, never a start-up failure
            log.exception("warm-up failed; serving anyway")
            return
        log.info("warmed up the model and the embedder in %.2fs", time.perf_counter() - started)

    def _titans_router(self) -> Any | None:
        """A cloud Titan router when at least one Titan is configured (OMEGA_TITANS_*), else None:
        the local model stays the default and the floor."""
        if self._second_opinion is not None:
            return self._second_opinion
        from titans.config import TitansSettings

        titans = TitansSettings()
        if not titans.specs():
            return None
        from titans.factory import build_router

        self._second_opinion = build_router(titans, self.settings.data_dir)
        return self._second_opinion

    def _batcher(self, embedder: Any | None) -> Any | None:
        if embedder is None:
            return None
        from context.embedding import MicroBatcher

        self._embed_batcher = MicroBatcher(
            embedder,
            window_s=0.002,
            max_batch=32,
            nice=self.settings.pipeline_nice,
            workers=self.settings.embedding_workers,
        )
        return self._embed_batcher

    async def _start_http(self) -> None:
        assert self._webhooks is not None
        routes = [Route("/healthz", self._healthz), *self._webhooks.routes()]
        for component in self.components:
            routes += component.routes()
        self._http, self._http_task, self.http_port = await start_http(
            self.settings.http_addr, routes
        )

    async def _healthz(self, request: Request) -> JSONResponse:
        assert self.store is not None
        counts = await self.store.tickets.count_by_state()
        return JSONResponse({"status": "ok", "tickets": counts})

    async def stop(self, grace_s: float = 5.0) -> None:
        """Graceful: health NOT_SERVING, stop taking requests, drain, close the store."""
        if self._health is not None:
            await self._health.set(False)
        if self._http is not None:
            self._http.should_exit = True
            if self._http_task is not None:
                await asyncio.gather(self._http_task, return_exceptions=True)
        if self._grpc is not None:
            await self._grpc.stop(grace_s)
        if self._agents is not None:
            await self._agents.stop()
        if self._agents_channel is not None:
            await self._agents_channel.close()
        if self.runner is not None:
            await self.runner.stop()
        for component in reversed(self.components):
            try:
                await component.stop()
            except Exception:  # noqa: BLE001 - stop the rest regardless
                log.exception("component %s failed to stop", component.name)
        if self._client is not None:
            await self._client.close()
        if getattr(self, "_embed_batcher", None) is not None:
            await self._embed_batcher.close()
        if self._second_opinion is not None:
            await self._second_opinion.aclose()
        if self._webhooks is not None:
            await self._webhooks.aclose()
        if self.store is not None:
            self.store.close()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._lock.release()
