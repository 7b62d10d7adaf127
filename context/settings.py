"""Typed settings of the Context Server (env vars with the ``OMEGA_CONTEXT_`` prefix)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ContextSettings(BaseSettings):
    """Which stores the Context Server uses and how; read once at start-up."""

    model_config = SettingsConfigDict(env_prefix="OMEGA_CONTEXT_", frozen=True, extra="ignore")

    grpc_addr: str = "127.0.0.1:50053"
    data_dir: Path = Path(".omega/context")
    # Long-term index: "embedded" (SQLite + in-memory IVF) or "azure" (Azure AI Search).
    index_backend: Literal["embedded", "azure"] = "embedded"
    ivf_min_rows: int = 20_000
    nprobe: int = 32
    hybrid_alpha: float = 0.8
    azure_search_endpoint: str = ""
    azure_search_api_key: SecretStr | None = None
    azure_search_index: str = "omega-memories"
    azure_search_api_version: str = "2024-07-01"
    # Short-term sessions: "memory" (in-process) or "redis".
    session_backend: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "omega:ctx"
    # Salt of the subject hashes (set a secret per deployment; changing it orphans old hashes).
    subject_salt: SecretStr = SecretStr("omega-context")
    redact_ips: bool = True
    sweep_interval_s: float = 60.0
    batch_window_ms: float = 2.0
    shutdown_grace_s: float = 5.0
