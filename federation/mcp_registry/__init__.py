"""MCP Registry: MCP servers, tool discovery and per-tenant allow-lists (omega.mcpregistry.v1)."""
