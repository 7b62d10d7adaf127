"""Hosting the Federation Core: on its own server, or added to a shared one (embedded mesh)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
from omega.federation.v1 import federation_pb2, federation_pb2_grpc

from federation.core.hosting import ServiceServer, bind_and_wrap
from federation.core.service import FederationCore
from federation.core.servicer import FederationServicer
from federation.serving import add_health_and_reflection, new_server
from mesh.settings import OmegaSettings

SERVICE_NAME = federation_pb2.DESCRIPTOR.services_by_name["FederationService"].full_name


@dataclass
class CoreDeps:
    """The router and, when its directory is a watched copy, how to start and stop it."""

    core: FederationCore
    on_start: Callable[[], None] | None = None
    on_stop: Callable[[], Awaitable[None]] | None = None


def add_to_server(server: grpc.aio.Server, core: FederationCore, default_tenant: str) -> list[str]:
    """Add the FederationService servicer to ``server``; returns its full service names."""
    federation_pb2_grpc.add_FederationServiceServicer_to_server(
        FederationServicer(core, default_tenant), server
    )
    return [SERVICE_NAME]


def create_server(
    settings: OmegaSettings, deps: CoreDeps, *, address: str | None = None
) -> ServiceServer:
    """A server hosting only the Federation Core, bound to ``address`` (default grpc_addr)."""
    server = new_server()
    names = add_to_server(server, deps.core, settings.default_tenant)
    health = add_health_and_reflection(server, names)
    return bind_and_wrap(
        server, health, address or settings.grpc_addr, on_start=deps.on_start, on_stop=deps.on_stop
    )
