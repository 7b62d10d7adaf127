"""Static bearer tokens for the MCP HTTP endpoint, and the signing key of confirmation tokens.

Embedded mode needs no identity provider: on first start ``write_default_tokens_file`` creates
``mcp_tokens.toml`` in the data directory with one random token for the default tenant. Each
token maps to exactly one tenant and one technician; every tool call is scoped to them.
"""

from __future__ import annotations

import hmac
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp.server.auth.provider import AccessToken
from pydantic import BaseModel, ConfigDict, SecretStr

SCOPE = "omega.mcp"


@dataclass(frozen=True)
class Caller:
    """Who a tool call acts for."""

    tenant: str
    technician: str


class TokenEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    token: SecretStr
    tenant: str
    technician: str


class TokenDirectory:
    """Looks bearer tokens up in constant time per entry; also holds the confirmation key."""

    def __init__(self, entries: dict[str, TokenEntry], signing_key: bytes) -> None:
        self._entries = dict(entries)
        self.signing_key = signing_key

    @classmethod
    def load(cls, path: Path) -> TokenDirectory:
        raw: dict[str, Any] = tomllib.loads(path.read_text()) if path.exists() else {}
        entries = {name: TokenEntry(**body) for name, body in raw.get("tokens", {}).items()}
        key = str(raw.get("signing_key", ""))
        if len(key) < 32:
            raise ValueError(f"{path}: signing_key must be at least 32 characters")
        return cls(entries, key.encode())

    def caller_for(self, token: str) -> tuple[str, Caller] | None:
        """The entry name and caller of a bearer token, or None when unknown."""
        found: tuple[str, Caller] | None = None
        for name, entry in self._entries.items():
            if hmac.compare_digest(entry.token.get_secret_value().encode(), token.encode()):
                found = (name, Caller(entry.tenant, entry.technician))
        return found


def write_default_tokens_file(path: Path, tenant: str, technician: str = "technician") -> bool:
    """Create the tokens file with one fresh token and signing key; True when it wrote one."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    body = (
        "# Bearer tokens for OMEGA's MCP endpoint (http://<gateway>/mcp). Each maps to one tenant\n"
        "# and one technician. signing_key signs propose_action confirmation tokens: give every\n"
        "# replica the same key. See docs/mcp.md.\n"
        f'signing_key = "{secrets.token_urlsafe(32)}"\n\n'
        "[tokens.local]\n"
        f'token = "{secrets.token_urlsafe(32)}"\n'
        f'tenant = "{tenant}"\n'
        f'technician = "{technician}"\n'
    )
    path.write_text(body)
    path.chmod(0o600)
    return True


class StaticTokenVerifier:
    """The SDK's TokenVerifier over the tokens file: the token's tenant/technician ride as claims."""

    def __init__(self, tokens: TokenDirectory, resource: str) -> None:
        self._tokens = tokens
        self._resource = resource

    async def verify_token(self, token: str) -> AccessToken | None:
        found = self._tokens.caller_for(token)
        if found is None:
            return None
        name, caller = found
        return AccessToken(
            token=token,
            client_id=name,
            scopes=[SCOPE],
            resource=self._resource,
            subject=caller.technician,
            claims={"tenant": caller.tenant, "technician": caller.technician},
        )
