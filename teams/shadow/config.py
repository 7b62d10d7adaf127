"""Per-tenant shadow policy, read from the tenants file's ``[shadow.<tenant>]`` tables.

The tenants file (``mesh.settings``) keeps its ``[tenants.<name>]`` tables; the shadow team reads
its own top-level ``[shadow.<name>]`` tables from the same file, so one file configures a tenant.
Everything has a safe default: no auto-apply, no co-managed clients, a recording write-back.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class WriteBackTarget(BaseModel):
    """Where and how to write tickets back to one PSA (see teams.shadow.writeback)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["autotask", "connectwise", "kaseya_bms"]
    base_url: str
    # Autotask: ApiIntegrationCode / UserName / Secret headers.
    integration_code: str = ""
    username: str = ""
    secret: SecretStr = SecretStr("")
    # ConnectWise: company id + public/private key (Basic auth) and the clientId header.
    company: str = ""
    public_key: str = ""
    private_key: SecretStr = SecretStr("")
    client_id: str = ""
    # Kaseya BMS: a bearer token (the poller's authentication gives one).
    bearer_token: SecretStr = SecretStr("")
    # Status names (or picklist ids) to write when a ticket is resolved.
    resolved_status: str = "Complete"
    attempts: int = 4
    timeout_s: float = 10.0


class ShadowPolicy(BaseModel):
    """One tenant's shadow configuration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Technicians shown in the embedded dashboard's picker (more appear as tickets reach them).
    technicians: tuple[str, ...] = ()
    # Runbooks the tenant allows to run without a human (each still needs its own threshold).
    auto_apply: tuple[str, ...] = ()
    # Co-managed clients: tickets from their own IT staff are never auto-applied.
    co_managed_companies: tuple[str, ...] = ()
    co_managed_domains: tuple[str, ...] = ()
    # Queue name → default technician, when neither the model nor the PSA names one.
    queue_technicians: dict[str, str] = Field(default_factory=dict)
    # How long a proposal waits for a human, and how long a confirmation token lives.
    proposal_ttl_s: float = 7 * 24 * 3600.0
    token_ttl_s: float = 600.0
    # A resolution reopened within this many days counts as failed.
    reopen_window_days: float = 30.0
    # Confidence at or above which a wrong prediction counts as "confident but wrong".
    confident_threshold: float = 0.9
    # Runbook overrides and additions: {name: {field: value}}; {"enabled": false} removes one.
    runbooks: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # PSA write-back per source ("autotask", "connectwise", "kaseya_bms"); absent = recording.
    writeback: dict[str, WriteBackTarget] = Field(default_factory=dict)

    def is_co_managed(self, company: str, contact_email: str) -> bool:
        """True when the requester is a co-managed client's own IT staff."""
        company_l = company.strip().lower()
        if company_l and any(company_l == c.strip().lower() for c in self.co_managed_companies):
            return True
        domain = contact_email.rpartition("@")[2].strip().lower()
        return bool(domain) and any(
            domain == d.lower() or domain.endswith("." + d.lower()) for d in self.co_managed_domains
        )


class ShadowPolicies:
    """Looks up each tenant's policy; tenants without a ``[shadow.*]`` table get the defaults."""

    def __init__(self, policies: dict[str, ShadowPolicy]) -> None:
        self._policies = dict(policies)
        self._default = ShadowPolicy()

    def get(self, tenant: str) -> ShadowPolicy:
        return self._policies.get(tenant, self._default)

    @classmethod
    def load(cls, path: Path) -> ShadowPolicies:
        raw: dict[str, Any] = {}
        if path.exists():
            raw = tomllib.loads(path.read_text()).get("shadow", {})
        return cls({name: ShadowPolicy(**body) for name, body in raw.items()})
