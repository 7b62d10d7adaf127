"""What an MCP server needs: a gRPC channel to OMEGA, who the caller is, and the confirm key."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import grpc
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from mcp_servers.tokens import Caller
from sdk.client import OmegaClient, RetryPolicy

log = logging.getLogger(__name__)

CallerResolver = Callable[[], Caller]


class CallerError(ToolError):
    """The call carries no identity (an HTTP request without a verified bearer token)."""


def fixed_caller(tenant: str, technician: str) -> CallerResolver:
    """stdio and in-process servers act for one configured caller."""
    caller = Caller(tenant, technician)
    return lambda: caller


def token_caller() -> Caller:
    """HTTP: the tenant and technician of the request's verified bearer token."""
    token = get_access_token()
    claims = (token.claims or {}) if token is not None else {}
    tenant, technician = claims.get("tenant"), claims.get("technician")
    if not tenant or not technician:
        raise CallerError("UNAUTHENTICATED: no verified bearer token on this request")
    return Caller(str(tenant), str(technician))


@dataclass(frozen=True)
class HttpAuth:
    """Bearer-token auth of one HTTP endpoint (an OAuth 2.1 resource server)."""

    settings: AuthSettings
    verifier: TokenVerifier


@dataclass
class McpDeps:
    """Dependencies of every OMEGA MCP server (built by the CLI or the mesh component).

    ``channel`` and ``target`` may be filled in late (the mesh binds its gRPC port after the
    HTTP routes are built); ``auth`` is set only for servers served over HTTP.
    """

    channel: grpc.aio.Channel | None
    target: str
    caller: CallerResolver
    signing_key: bytes
    timeout_s: float = 10.0
    confirm_ttl_s: float = 600.0
    auth: HttpAuth | None = None

    def new_server(self, name: str, version: str, instructions: str) -> MCPServer:
        """An empty MCPServer with this deployment's auth (none for stdio and in-process)."""
        if self.auth is None:
            return MCPServer(name, version=version, instructions=instructions)
        return MCPServer(
            name,
            version=version,
            instructions=instructions,
            auth=self.auth.settings,
            token_verifier=self.auth.verifier,
        )

    def client(self) -> OmegaClient:
        """A client scoped to the current caller: tenant and technician go into gRPC metadata."""
        caller = self.caller()
        if self.channel is None:
            raise OmegaToolError(grpc.StatusCode.UNAVAILABLE, "OMEGA's gRPC port is not up yet")
        return OmegaClient(
            self.target,
            tenant=caller.tenant,
            technician=caller.technician,
            channel=self.channel,
            timeout_s=self.timeout_s,
            retry=RetryPolicy(attempts=2, initial_backoff_s=0.05, max_backoff_s=0.2),
        )


class OmegaToolError(ToolError):
    """A gRPC status from OMEGA, as a tool error whose message starts with the status name."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code


@contextlib.asynccontextmanager
async def omega_errors(target: str) -> AsyncIterator[None]:
    """Turn gRPC failures into tool errors (``isError`` results), never into text in a success."""
    try:
        yield
    except grpc.aio.AioRpcError as err:
        code = err.code()
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            raise OmegaToolError(
                code,
                f"OMEGA is not reachable at {target}: start it with `omega up` or set "
                "OMEGA_GRPC_ADDR",
            ) from None
        if code is grpc.StatusCode.INTERNAL:
            raise OmegaToolError(code, "OMEGA failed; see its logs") from None
        raise OmegaToolError(code, err.details() or code.name.lower()) from None
