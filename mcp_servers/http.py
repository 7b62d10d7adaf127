"""OMEGA's MCP servers over stateless streamable HTTP, behind bearer tokens.

Endpoints (all on the mesh gateway, :8080): ``/mcp`` (every tool: triage and shadow),
``/mcp/triage`` and ``/mcp/shadow``. Each is an OAuth 2.1 protected resource with metadata at
``/.well-known/oauth-protected-resource<path>`` (RFC 9728); ``/.well-known/oauth-protected-resource``
describes ``/mcp``. Stateless with JSON responses: any replica answers any request, so replicas
behind a load balancer need no session affinity.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from contextlib import AsyncExitStack

from mcp.server.auth.routes import create_protected_resource_routes
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route

from mcp_servers.deps import HttpAuth, McpDeps, token_caller
from mcp_servers.settings import McpSettings
from mcp_servers.tokens import SCOPE, StaticTokenVerifier, TokenDirectory

log = logging.getLogger(__name__)

ServerFactory = Callable[[McpDeps], MCPServer]
WELL_KNOWN = "/.well-known/oauth-protected-resource"


class McpHttpApp:
    """Builds the endpoints' routes and runs their (stateless) session managers."""

    def __init__(
        self,
        endpoints: dict[str, ServerFactory],
        deps: McpDeps,
        tokens: TokenDirectory,
        settings: McpSettings,
        public_url: str,
    ) -> None:
        self._public_url = public_url.rstrip("/")
        issuers = settings.authorization_servers or (self._public_url,)
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=[*settings.allowed_hosts, *_host_of(self._public_url)],
            allowed_origins=[*settings.allowed_origins, self._public_url],
        )
        self.servers: dict[str, MCPServer] = {}
        self.deps: list[McpDeps] = []
        self._apps: dict[str, Starlette] = {}
        for path, factory in endpoints.items():
            resource = f"{self._public_url}{path}"
            auth = HttpAuth(
                AuthSettings(
                    issuer_url=AnyHttpUrl(issuers[0]),
                    resource_server_url=AnyHttpUrl(resource),
                    required_scopes=[SCOPE],
                    validate_token_resource=True,
                ),
                StaticTokenVerifier(tokens, resource),
            )
            endpoint_deps = dataclasses.replace(deps, caller=token_caller, auth=auth)
            self.deps.append(endpoint_deps)
            server = factory(endpoint_deps)
            self.servers[path] = server
            self._apps[path] = server.streamable_http_app(
                streamable_http_path=path,
                stateless_http=True,
                json_response=True,
                transport_security=security,
            )
        self._issuers = issuers
        self._stack: AsyncExitStack | None = None
        self._runner: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def routes(self) -> list[BaseRoute]:
        """Each endpoint and its protected-resource metadata, as routes of the gateway."""
        routes: list[BaseRoute] = []
        for path, app in self._apps.items():
            routes.append(Route(path, endpoint=app))  # the sub-app matches the same full path
            routes.append(Route(f"{WELL_KNOWN}{path}", endpoint=app, methods=["GET", "OPTIONS"]))
        if "/mcp" in self._apps:
            bare = create_protected_resource_routes(
                resource_url=AnyHttpUrl(f"{self._public_url}/mcp"),
                authorization_servers=[AnyHttpUrl(i) for i in self._issuers],
                scopes_supported=[SCOPE],
                resource_name="OMEGA MCP",
            )[0]
            routes.append(Route(WELL_KNOWN, endpoint=bare.endpoint, methods=["GET", "OPTIONS"]))
        return routes

    def asgi(self) -> Starlette:
        """A standalone app with only the MCP routes (one replica outside the mesh)."""
        return Starlette(routes=self.routes())

    async def start(self) -> None:
        """Run every session manager in one background task (anyio scopes stay in one task)."""
        ready = asyncio.Event()

        async def run() -> None:
            async with AsyncExitStack() as stack:
                for server in self.servers.values():
                    await stack.enter_async_context(server.session_manager.run())
                ready.set()
                await self._stop.wait()

        self._runner = asyncio.create_task(run(), name="mcp-session-managers")
        waiter = asyncio.create_task(ready.wait())
        done, _ = await asyncio.wait(
            {waiter, self._runner}, timeout=10.0, return_when="FIRST_COMPLETED"
        )
        if self._runner in done:
            waiter.cancel()
            self._runner.result()
        if waiter not in done:
            waiter.cancel()
            raise TimeoutError("MCP session managers did not start")

    async def stop(self) -> None:
        self._stop.set()
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)


def _host_of(url: str) -> list[str]:
    rest = url.split("://", 1)[-1].split("/", 1)[0]
    return [rest, f"{rest.rsplit(':', 1)[0]}:*"] if rest else []
