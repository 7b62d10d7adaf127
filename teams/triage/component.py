"""The read-only TriageService as a mesh component (gRPC only; the pipeline step stays in app)."""

from __future__ import annotations

import grpc
from omega.triage.v1 import triage_pb2, triage_pb2_grpc
from starlette.routing import BaseRoute

from mesh.components import MeshContext
from teams.pipeline import Step
from teams.triage.service import TicketTriageService
from teams.triage.servicer import TriageServicer


class TriageServiceComponent:
    """Serves omega.triage.v1.TriageService over the mesh's ``triage`` and ``embedder``."""

    name = "triage-service"

    def __init__(self) -> None:
        self._servicer: TriageServicer | None = None
        self._service: TicketTriageService | None = None

    async def start(self, ctx: MeshContext) -> None:
        self._service = TicketTriageService(
            ctx.services["triage"],
            ctx.tenants,
            ctx.store.tickets,
            embedder=ctx.services.get("embedder"),
            executor=ctx.executor,
        )
        self._servicer = TriageServicer(self._service, ctx.tenants)
        ctx.services["triage_service"] = self._service

    def add_to_grpc(self, server: grpc.aio.Server) -> list[str]:
        assert self._servicer is not None, "start() first"
        triage_pb2_grpc.add_TriageServiceServicer_to_server(self._servicer, server)
        return [triage_pb2.DESCRIPTOR.services_by_name["TriageService"].full_name]

    def routes(self) -> list[BaseRoute]:
        return []

    def steps(self) -> list[Step]:
        return []

    async def serving(self, ctx: MeshContext) -> None:
        # Components started after this one (the Context Server) may offer recall by now.
        if self._service is not None:
            self._service.similar = ctx.services.get("similar_tickets")

    async def stop(self) -> None:
        return None
