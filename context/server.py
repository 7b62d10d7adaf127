"""The Context Server process: factories that wire stores, the servicer, health and reflection."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, field

import grpc
from omega.context.v1 import context_pb2 as pb
from omega.context.v1 import context_pb2_grpc as pb_grpc

from context.audit import AuditLog
from context.embedding import Embedder, MicroBatcher, load_default_embedder
from context.index import LongTermIndex
from context.models import Clock, wall_clock
from context.redaction import Redactor
from context.service import ContextService
from context.servicer import ContextServicer
from context.sessions import InMemorySessionStore, RedisSessionStore, SessionStore
from context.settings import ContextSettings
from federation.serving import ServingStatus, add_health_and_reflection, new_server

log = logging.getLogger(__name__)

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["ContextService"].full_name


def build_service(
    settings: ContextSettings,
    *,
    embedder: Embedder | None = None,
    clock: Clock = wall_clock,
) -> ContextService:
    """A ContextService with the adapters the settings choose (the model loads here, once)."""
    model = embedder if embedder is not None else load_default_embedder()
    index: LongTermIndex
    if settings.index_backend == "azure":
        from context.azure_search import AzureSearchIndex

        key = settings.azure_search_api_key
        index = AzureSearchIndex(
            endpoint=settings.azure_search_endpoint,
            api_key=key.get_secret_value() if key else "",
            index_name=settings.azure_search_index,
            api_version=settings.azure_search_api_version,
            dim=model.dim,
            alpha=settings.hybrid_alpha,
        )
    else:
        from context.embedded_index import EmbeddedIndex

        index = EmbeddedIndex(
            settings.data_dir / "index",
            model.dim,
            ivf_min_rows=settings.ivf_min_rows,
            nprobe=settings.nprobe,
            alpha=settings.hybrid_alpha,
        )
    sessions: SessionStore
    if settings.session_backend == "redis":
        sessions = RedisSessionStore(settings.redis_url, prefix=settings.redis_prefix)
    else:
        sessions = InMemorySessionStore(clock)
    return ContextService(
        index=index,
        sessions=sessions,
        embedder=MicroBatcher(model, window_s=settings.batch_window_ms / 1000),
        audit=AuditLog(settings.data_dir / "audit.sqlite"),
        redactor=Redactor(redact_ips=settings.redact_ips),
        subject_salt=settings.subject_salt.get_secret_value(),
        clock=clock,
    )


def add_context_service(
    server: grpc.aio.Server, service: ContextService, default_tenant: str = "default"
) -> list[str]:
    """Add the ContextService servicer to an existing server; returns the names for health."""
    pb_grpc.add_ContextServiceServicer_to_server(ContextServicer(service, default_tenant), server)
    return [SERVICE_NAME]


@dataclass
class ContextDeps:
    """What the server needs that it does not build itself."""

    service: ContextService
    default_tenant: str = "default"


@dataclass
class ContextServer:
    """A started-or-not gRPC server with its bound port and health switch."""

    server: grpc.aio.Server
    port: int
    health: ServingStatus
    deps: ContextDeps
    _stopped: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        await self.server.start()
        await self.health.set(True)

    async def stop(self, grace: float = 5.0) -> None:
        """Graceful: health NOT_SERVING first, then drain calls for ``grace`` seconds."""
        await self.health.set(False)
        await self.server.stop(grace)
        self._stopped.set()


def create_server(settings: ContextSettings, deps: ContextDeps) -> ContextServer:
    """A gRPC server with the ContextService, health and reflection, bound to ``grpc_addr``."""
    server = new_server()
    names = add_context_service(server, deps.service, deps.default_tenant)
    health = add_health_and_reflection(server, names)
    port = server.add_insecure_port(settings.grpc_addr)
    return ContextServer(server=server, port=port, health=health, deps=deps)


async def serve(settings: ContextSettings, default_tenant: str = "default") -> None:
    """Run the Context Server until SIGTERM/SIGINT, then stop gracefully."""
    service = build_service(settings)
    srv = create_server(settings, ContextDeps(service, default_tenant))
    await srv.start()
    service.start_sweeper(settings.sweep_interval_s)
    log.info("context server listening on port %d", srv.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("context server stopping (grace %.1f s)", settings.shutdown_grace_s)
    await srv.stop(settings.shutdown_grace_s)
    await service.close()
    log.info("context server stopped")
