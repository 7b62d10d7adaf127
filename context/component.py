"""The Context Server as a mesh component: gRPC ContextService plus in-process recall for triage.

In the embedded mesh it shares the process's one MiniLM model (``ctx.services["embedder"]``) and
offers ``ctx.services["similar_tickets"]`` to the triage step (the 3 most similar resolved tickets
of the same tenant and how they were fixed, reusing the ticket's own embedding) and
``ctx.services["context"]`` to the shadow team (confirmed resolutions become memories).
"""

from __future__ import annotations

import logging
from typing import Any

import grpc
import numpy as np
from starlette.routing import BaseRoute

from context.models import MemoryKind
from context.server import add_context_service, build_service
from context.service import ContextService
from context.settings import ContextSettings
from mesh.components import MeshContext

log = logging.getLogger(__name__)


class ContextComponent:
    name = "context"

    def __init__(self, settings: ContextSettings | None = None) -> None:
        self._settings = settings
        self.service: ContextService | None = None
        self._default_tenant = "default"

    async def start(self, ctx: MeshContext) -> None:
        settings = self._settings or ContextSettings(data_dir=ctx.settings.data_dir / "context")
        self._default_tenant = ctx.settings.default_tenant
        # One model per process: reuse the mesh's (None in a process of its own: it loads one).
        self.service = build_service(settings, embedder=ctx.services.get("embedder"))
        self.service.start_sweeper(settings.sweep_interval_s)
        ctx.services["context"] = self.service
        ctx.services["similar_tickets"] = self.similar_tickets

    async def similar_tickets(
        self, tenant: str, text: str, embedding: np.ndarray | None, top_k: int
    ) -> list[dict[str, Any]]:
        """Resolved tickets of ``tenant`` like this one, and how they were fixed."""
        assert self.service is not None
        hits = await self.service.recall(
            tenant,
            text=text,
            embedding=embedding,
            kinds=(MemoryKind.RESOLVED_TICKET,),
            top_k=top_k,
        )
        return [
            {
                "ticket_id": h.memory.source_ticket_id,
                "title": h.memory.text.split("\n", 1)[0][:200],
                "resolution": h.memory.resolution,
                "score": round(float(h.score), 4),
                "category": h.memory.metadata.get("category", ""),
                "confirmed": h.memory.confirmed,
                "why": h.why,
            }
            for h in hits
        ]

    def add_to_grpc(self, server: grpc.aio.Server) -> list[str]:
        assert self.service is not None
        return add_context_service(server, self.service, self._default_tenant)

    def routes(self) -> list[BaseRoute]:
        return []

    def steps(self) -> list[Any]:
        return []

    async def serving(self, ctx: MeshContext) -> None:
        return None

    async def stop(self) -> None:
        if self.service is not None:
            await self.service.close()
