"""The servers by name, and the combined one served at ``/mcp``."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from mcp_servers import shadow, triage
from mcp_servers.deps import McpDeps
from mcp_servers.http import ServerFactory

OMEGA_NAME = "io.omega/omega"
VERSION = "0.1.0"


def make_omega_server(deps: McpDeps) -> MCPServer:
    """Every OMEGA tool in one server (what most clients connect to)."""
    server = deps.new_server(
        OMEGA_NAME, VERSION, f"{triage.server.INSTRUCTIONS}\n{shadow.server.INSTRUCTIONS}"
    )
    triage.register_triage(server, deps)
    shadow.register_shadow(server, deps)
    return server


SERVERS: dict[str, ServerFactory] = {
    "triage": triage.make_server,
    "shadow": shadow.make_server,
    "omega": make_omega_server,
}
HTTP_ENDPOINTS: dict[str, ServerFactory] = {
    "/mcp": make_omega_server,
    "/mcp/triage": triage.make_server,
    "/mcp/shadow": shadow.make_server,
}
