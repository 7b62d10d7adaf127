"""The shadow MCP server: a technician's queue, reply drafts, and two-step actions."""

from mcp_servers.shadow.server import make_server, register_shadow

__all__ = ["make_server", "register_shadow"]
