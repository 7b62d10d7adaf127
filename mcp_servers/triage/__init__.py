"""The triage MCP server: triage without side effects, tickets, similar tickets, explanations."""

from mcp_servers.triage.server import make_server, register_triage

__all__ = ["make_server", "register_triage"]
