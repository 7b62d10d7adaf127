"""Hosting the MCP Registry: on its own server, or added to a shared one (embedded mesh)."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from omega.mcpregistry.v1 import mcp_registry_pb2, mcp_registry_pb2_grpc

from federation.core.hosting import ServiceServer, bind_and_wrap
from federation.mcp_registry.service import McpRegistry
from federation.mcp_registry.servicer import McpRegistryServicer
from federation.serving import add_health_and_reflection, new_server
from mesh.settings import OmegaSettings

SERVICE_NAME = mcp_registry_pb2.DESCRIPTOR.services_by_name["McpRegistryService"].full_name


@dataclass
class McpRegistryDeps:
    """The registry (build it with ``default_embedder()`` for semantic search)."""

    registry: McpRegistry


def add_to_server(server: grpc.aio.Server, registry: McpRegistry, default_tenant: str) -> list[str]:
    """Add the McpRegistryService servicer to ``server``; returns its full service names."""
    mcp_registry_pb2_grpc.add_McpRegistryServiceServicer_to_server(
        McpRegistryServicer(registry, default_tenant), server
    )
    return [SERVICE_NAME]


def create_server(
    settings: OmegaSettings, deps: McpRegistryDeps, *, address: str | None = None
) -> ServiceServer:
    """A server hosting only the MCP Registry, bound to ``address`` (default grpc_addr)."""
    server = new_server()
    names = add_to_server(server, deps.registry, settings.default_tenant)
    health = add_health_and_reflection(server, names)
    return bind_and_wrap(server, health, address or settings.grpc_addr)
