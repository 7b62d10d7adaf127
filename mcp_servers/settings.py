"""Settings of the MCP servers (env vars ``OMEGA_MCP_*``), read once at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class McpSettings(BaseSettings):
    """Where the HTTP endpoint is published, who may call it, and the stdio caller."""

    model_config = SettingsConfigDict(env_prefix="OMEGA_MCP_", frozen=True, extra="ignore")

    # Static bearer tokens (each mapped to a tenant and a technician) and the key that signs
    # confirmation tokens; default ``$OMEGA_DATA_DIR/mcp_tokens.toml``, generated on first start.
    tokens_file: Path | None = None
    # The URL clients reach the mesh's HTTP gateway at (the OAuth resource is ``<public_url>/mcp``).
    public_url: str = "http://127.0.0.1:8080"
    # The OAuth 2.1 authorization server(s) whose tokens the resource accepts (for example the
    # tenant's Entra ID issuer); empty means the gateway itself (static tokens only).
    authorization_servers: tuple[str, ...] = ()
    # Host and Origin headers accepted (DNS-rebinding protection); "host:*" allows any port.
    allowed_hosts: tuple[str, ...] = ("127.0.0.1:*", "localhost:*", "[::1]:*")
    allowed_origins: tuple[str, ...] = (
        "http://127.0.0.1:*",
        "http://localhost:*",
        "http://[::1]:*",
    )
    # stdio: the caller the local process acts as (Claude Desktop has no bearer token).
    tenant: str = "default"
    technician: str = "technician"
    # How long a propose_action confirmation token stays valid.
    confirm_ttl_s: float = 600.0
    # The MCP Registry (omega.mcpregistry.v1) to register with; empty keeps registrations in
    # process (the embedded default).
    registry_addr: str = ""
    # Seconds a gRPC call from a tool may take.
    grpc_timeout_s: float = 10.0

    def tokens_path(self, data_dir: Path) -> Path:
        return self.tokens_file or data_dir / "mcp_tokens.toml"
