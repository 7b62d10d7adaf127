"""How a capability plugs into the embedded mesh (and, one per pod, into production).

A component gets the shared dependencies at start, can add gRPC servicers (with their full
service names for health and reflection), HTTP routes on :8080 and pipeline steps (consumers of
bus topics), and is stopped in reverse order. ``mesh.app.EmbeddedMesh`` lists its components in
``default_components``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import grpc
from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from backends.sqlite.adapters import EmbeddedStore
    from mesh.settings import OmegaSettings, TenantDirectory
    from teams.pipeline import Step


@dataclass
class MeshContext:
    """What every component may use. ``services`` lets components find each other's domain
    objects in-process (e.g. ``services["context"]``, ``services["triage"]``)."""

    settings: OmegaSettings
    tenants: TenantDirectory
    store: EmbeddedStore
    executor: ThreadPoolExecutor
    grpc_target: str = ""  # filled in once the gRPC port is bound
    http_port: int = 0
    services: dict[str, Any] = field(default_factory=dict)


class Component(Protocol):
    name: str

    async def start(self, ctx: MeshContext) -> None:
        """Build domain objects (store them in ``ctx.services`` for others)."""
        ...

    def add_to_grpc(self, server: grpc.aio.Server) -> list[str]:
        """Add servicers; return their full service names (for health and reflection)."""
        ...

    def routes(self) -> list[BaseRoute]:
        """HTTP routes/mounts on the gateway (:8080)."""
        ...

    def steps(self) -> list[Step]:
        """Pipeline steps this component runs (each consumes one bus topic)."""
        ...

    async def serving(self, ctx: MeshContext) -> None:
        """Called once gRPC and HTTP are up (clients of the mesh's own ports may connect)."""
        ...

    async def stop(self) -> None: ...
