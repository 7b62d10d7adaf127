"""The MCP endpoints as a mesh component: routes on the gateway, registration once serving."""

from __future__ import annotations

import logging
from pathlib import Path

import grpc
from starlette.routing import BaseRoute

from mcp_servers.deps import McpDeps, fixed_caller
from mcp_servers.http import McpHttpApp
from mcp_servers.registration import (
    GrpcMcpRegistry,
    InProcessRegistrations,
    ServerRegistration,
    describe,
    register_quietly,
)
from mcp_servers.servers import HTTP_ENDPOINTS
from mcp_servers.settings import McpSettings
from mcp_servers.tokens import TokenDirectory, write_default_tokens_file
from mesh.components import MeshContext
from teams.pipeline import Step

log = logging.getLogger(__name__)

CAPABILITIES = {
    "/mcp": ("ticket.triage", "ticket.read", "shadow"),
    "/mcp/triage": ("ticket.triage", "ticket.read"),
    "/mcp/shadow": ("shadow", "ticket.write"),
}


class McpComponent:
    """Serves /mcp, /mcp/triage and /mcp/shadow (stateless streamable HTTP, bearer tokens)."""

    name = "mcp"

    def __init__(
        self,
        settings: McpSettings | None = None,
        *,
        registry: ServerRegistration | None = None,
    ) -> None:
        self._settings = settings or McpSettings()
        self._registry_override = registry
        self.registry: ServerRegistration = registry or InProcessRegistrations()
        self.app: McpHttpApp | None = None
        self._deps: McpDeps | None = None
        self._channels: list[grpc.aio.Channel] = []
        self.tokens_path: Path | None = None

    async def start(self, ctx: MeshContext) -> None:
        s = self._settings
        self.tokens_path = s.tokens_path(ctx.settings.data_dir)
        if write_default_tokens_file(self.tokens_path, ctx.settings.default_tenant):
            log.info("wrote MCP bearer tokens to %s", self.tokens_path)
        tokens = TokenDirectory.load(self.tokens_path)
        self._deps = McpDeps(
            channel=None,
            target="",
            caller=fixed_caller(ctx.settings.default_tenant, s.technician),  # replaced per endpoint
            signing_key=tokens.signing_key,
            timeout_s=s.grpc_timeout_s,
            confirm_ttl_s=s.confirm_ttl_s,
        )
        public = s.public_url
        self.app = McpHttpApp(HTTP_ENDPOINTS, self._deps, tokens, s, public)
        await self.app.start()

    def add_to_grpc(self, server: grpc.aio.Server) -> list[str]:
        return []

    def routes(self) -> list[BaseRoute]:
        assert self.app is not None, "start() first"
        return self.app.routes()

    def steps(self) -> list[Step]:
        return []

    async def serving(self, ctx: MeshContext) -> None:
        assert self.app is not None
        channel = grpc.aio.insecure_channel(ctx.grpc_target)
        self._channels.append(channel)
        # Every endpoint's deps were copied from ours: point them all at the bound port.
        for server_deps in self.app.deps:
            server_deps.channel, server_deps.target = channel, ctx.grpc_target
        self.registry = self._registry_for(ctx, channel)
        base = self._settings.public_url.rstrip("/")
        for path, server in self.app.servers.items():
            record = await describe(
                server,
                transport="streamable_http",
                url=f"{base}{path}",
                capabilities=CAPABILITIES.get(path, ()),
            )
            await register_quietly(self.registry, record)

    def _registry_for(self, ctx: MeshContext, mesh_channel: grpc.aio.Channel) -> ServerRegistration:
        """An injected port; else the registry at OMEGA_MCP_REGISTRY_ADDR; else the one this
        mesh serves over gRPC; else in-process records."""
        if self._registry_override is not None:
            return self._registry_override
        if self._settings.registry_addr:
            channel = grpc.aio.insecure_channel(self._settings.registry_addr)
            self._channels.append(channel)
            return GrpcMcpRegistry(channel)
        if ctx.services.get("mcp_registry") is not None:
            return GrpcMcpRegistry(mesh_channel)
        return self.registry

    async def stop(self) -> None:
        if self.app is not None:
            await self.app.stop()
        for channel in self._channels:
            await channel.close()
