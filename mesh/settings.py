"""Typed, immutable settings for the OMEGA deployables (env vars with the ``OMEGA_`` prefix).

Read once at start-up (``OmegaSettings()``) and passed down; nothing else reads ``os.environ``.
Per-tenant configuration (webhook secrets, picklists, thresholds) lives in a TOML file, by
default ``$OMEGA_DATA_DIR/tenants.toml``; see docs/configuration.md.
"""

from __future__ import annotations

import secrets
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from federation.errors import FailedPrecondition, NotFound


class TenantConfig(BaseModel):
    """One MSP tenant's configuration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    display_name: str = ""
    # Autotask: the SecretKey given when the TicketWebhook was registered.
    autotask_webhook_secret: SecretStr | None = None
    # ConnectWise: a signing key configured here, or the callback key fetched from key_url
    # but only from these hosts (exact host names; `*.suffix` allows a domain suffix).
    connectwise_signing_key: SecretStr | None = None
    connectwise_key_hosts: tuple[str, ...] = ()
    connectwise_client_id: str = ""
    # Kaseya BMS: the webhook's shared secret.
    kaseya_bms_webhook_secret: SecretStr | None = None
    # Datto RMM webhooks carry no signature: a per-tenant token in the URL (?token=) or the
    # X-Omega-Token header authenticates them.
    datto_rmm_webhook_token: SecretStr | None = None
    # Per-source picklists: {"autotask": {"priority": {"1": "High"}, "status": {...}}}
    picklists: dict[str, dict[str, dict[str, str]]] = Field(default_factory=dict)
    # Triage: the precision the abstention threshold must hold (default 95 %); used whenever a
    # model is trained for the tenant (the first, demo-history model and `omega model train`).
    target_precision: float = Field(default=0.95, gt=0.5, lt=1.0)


class TenantDirectory:
    """Looks tenants up by name; unknown tenants are NotFound (HTTP 404)."""

    def __init__(self, tenants: dict[str, TenantConfig], default_tenant: str) -> None:
        self._tenants = dict(tenants)
        self.default_tenant = default_tenant

    def get(self, name: str) -> TenantConfig:
        try:
            return self._tenants[name]
        except KeyError:
            raise NotFound(f"unknown tenant {name!r}", reason="UNKNOWN_TENANT") from None

    def names(self) -> list[str]:
        return sorted(self._tenants)

    def target_precisions(self) -> dict[str, float]:
        """Tenant -> the precision its models' abstention threshold holds."""
        return {name: t.target_precision for name, t in self._tenants.items()}

    @classmethod
    def load(cls, path: Path, default_tenant: str, *more: Path) -> TenantDirectory:
        """Read ``path`` (TOML ``[tenants.<name>]`` tables); the default tenant always exists.

        ``more`` files (the policies file) add tenants and fields; for a field set in both,
        ``path`` (the tenants file) wins."""
        raw: dict[str, Any] = {}
        for source in (*reversed(more), path):
            if not source.exists():
                continue
            for name, body in tomllib.loads(source.read_text()).get("tenants", {}).items():
                raw[name] = {**raw.get(name, {}), **body}
        tenants = {name: TenantConfig(name=name, **body) for name, body in raw.items()}
        tenants.setdefault(default_tenant, TenantConfig(name=default_tenant))
        return cls(tenants, default_tenant)


def write_default_tenants_file(path: Path, default_tenant: str) -> bool:
    """Create a tenants file with fresh random webhook secrets for the default tenant.

    Returns True when it wrote one. Embedded mode needs no configuration, but an unsigned
    webhook is never accepted, so first start generates secrets the operator can read and
    paste into the PSA's webhook settings.
    """
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    body = (
        "# OMEGA tenants. Secrets were generated on first start; paste them into your PSA's\n"
        "# webhook settings (Autotask SecretKey, Kaseya BMS Secret). See docs/configuration.md.\n"
        f"[tenants.{default_tenant}]\n"
        f'display_name = "Default tenant"\n'
        f'autotask_webhook_secret = "{secrets.token_urlsafe(24)}"\n'
        f'connectwise_signing_key = "{secrets.token_urlsafe(24)}"\n'
        f'kaseya_bms_webhook_secret = "{secrets.token_urlsafe(24)}"\n'
        f'datto_rmm_webhook_token = "{secrets.token_urlsafe(24)}"\n'
    )
    path.write_text(body)
    path.chmod(0o600)
    return True


class OmegaSettings(BaseSettings):
    """Settings of the embedded mesh and its services."""

    model_config = SettingsConfigDict(env_prefix="OMEGA_", frozen=True, extra="ignore")

    grpc_addr: str = "127.0.0.1:50051"
    http_addr: str = "127.0.0.1:8080"
    data_dir: Path = Path(".omega")
    default_tenant: str = "default"
    tenants_file: Path | None = None
    # Tenants' non-secret policies (``[tenants.<t>]`` names, target_precision and picklists,
    # ``[triage.<t>]``, ``[shadow.<t>]``) for pods that must not hold the tenants file's secrets
    # (on AKS: the triage and shadow teams, from the omega-tenant-policies ConfigMap). Unset, the
    # tenants file holds them too.
    policies_file: Path | None = None
    # Pipeline delivery: attempts before dead-letter, lease length, retry backoff.
    max_attempts: int = 5
    visibility_timeout_s: float = 30.0
    retry_backoff_s: float = 0.5
    retry_backoff_max_s: float = 60.0
    workers: int = 2
    # How much lower (nice) the pipeline's CPU threads run than ingest: during a burst the
    # ingest RPC and webhooks get the cores first and triage catches up after. 0 disables.
    pipeline_nice: int = Field(default=10, ge=0, le=19)
    # The embedded mesh's MiniLM: ONNX Runtime threads per call, and how many calls run at
    # once. One thread per call and two calls at once keeps both cores busy under load without
    # the barrier waits a 2-thread call has when the cores are contended (docs/embeddings.md).
    embedding_threads: int = Field(default=1, ge=1, le=64)
    embedding_workers: int = Field(default=2, ge=1, le=64)
    log_level: str = "INFO"
    log_json: bool = True

    @property
    def tenants_path(self) -> Path:
        return self.tenants_file or self.data_dir / "tenants.toml"

    @property
    def policies_path(self) -> Path:
        """Where the ``[triage.*]`` and ``[shadow.*]`` tables are read from."""
        return self.policies_file or self.tenants_path

    def tenant_directory(self) -> TenantDirectory:
        extra = [self.policies_file] if self.policies_file else []
        if self.policies_file and not self.policies_file.is_file():
            # Set but absent (a ConfigMap not mounted): refuse rather than run on defaults.
            raise FailedPrecondition(
                f"OMEGA_POLICIES_FILE {self.policies_file} does not exist",
                reason="NO_POLICIES_FILE",
            )
        return TenantDirectory.load(self.tenants_path, self.default_tenant, *extra)
