"""Hosting the Agent Registry: on its own server, or added to a shared one (embedded mesh)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import grpc
from omega.registry.v1 import registry_pb2, registry_pb2_grpc

from federation.core.hosting import ServiceServer, bind_and_wrap
from federation.registry.service import AgentRegistry
from federation.registry.servicer import AgentRegistryServicer
from federation.serving import add_health_and_reflection, new_server
from mesh.settings import OmegaSettings

log = logging.getLogger(__name__)

SERVICE_NAME = registry_pb2.DESCRIPTOR.services_by_name["AgentRegistryService"].full_name


@dataclass
class RegistryDeps:
    """What the registry server needs; a fresh in-memory registry by default."""

    registry: AgentRegistry = field(default_factory=AgentRegistry)


def add_to_server(server: grpc.aio.Server, registry: AgentRegistry) -> list[str]:
    """Add the AgentRegistryService servicer to ``server``; returns its full service names."""
    registry_pb2_grpc.add_AgentRegistryServiceServicer_to_server(
        AgentRegistryServicer(registry), server
    )
    return [SERVICE_NAME]


def create_server(
    settings: OmegaSettings, deps: RegistryDeps, *, address: str | None = None
) -> ServiceServer:
    """A server hosting only the registry, bound to ``address`` (default ``settings.grpc_addr``)."""
    server = new_server()
    names = add_to_server(server, deps.registry)
    health = add_health_and_reflection(server, names)
    return bind_and_wrap(
        server,
        health,
        address or settings.grpc_addr,
        on_start=deps.registry.start,
        on_stop=deps.registry.stop,
    )
