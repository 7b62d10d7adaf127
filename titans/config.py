"""Configuration of the Titans (env ``OMEGA_TITANS_*``; keys are SecretStr and never logged).

A vendor counts as configured when its key is set (the OpenAI-compatible endpoint: when its
base URL is set). With nothing configured, every task is answered by the local model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from titans.pricing import Price

Kind = Literal["openai", "anthropic", "gemini", "grok", "openai_compatible"]

GROK_BASE_URL = "https://api.x.ai/v1"


@dataclass(frozen=True)
class TitanSpec:
    """One configured cloud Titan."""

    name: str
    kind: Kind
    model: str
    api_key: SecretStr | None
    base_url: str | None


class TitansSettings(BaseSettings):
    """Which Titans exist, how they are routed, what they may spend."""

    model_config = SettingsConfigDict(env_prefix="OMEGA_TITANS_", frozen=True, extra="ignore")

    openai_api_key: SecretStr | None = None
    openai_model: str = "gpt-4o-mini"
    openai_base_url: str | None = None
    anthropic_api_key: SecretStr | None = None
    anthropic_model: str = "claude-haiku-4-5"
    anthropic_base_url: str | None = None
    gemini_api_key: SecretStr | None = None
    gemini_model: str = "gemini-2.5-flash"
    gemini_base_url: str | None = None
    grok_api_key: SecretStr | None = None
    grok_model: str = "grok-3-mini"
    grok_base_url: str = GROK_BASE_URL
    # Any OpenAI-compatible endpoint (vLLM, Ollama, LM Studio, "Augment", a gateway...).
    compat_base_url: str | None = None
    compat_api_key: SecretStr | None = None
    compat_model: str = "default"
    compat_name: str = "compat"

    # Routing: {"<tenant or *>": {"<task>": ["anthropic", "openai"]}}; local is always last.
    chains: dict[str, dict[str, list[str]]] = Field(default_factory=dict)
    timeout_s: float = 20.0
    max_retries: int = 2
    backoff_s: float = 0.5
    backoff_max_s: float = 8.0
    max_retry_after_s: float = 30.0
    breaker_failures: int = 5
    breaker_cooldown_s: float = 60.0

    # Budgets: USD per tenant per calendar month (UTC); the default applies to unlisted tenants.
    monthly_budget_usd: dict[str, float] = Field(default_factory=dict)
    default_monthly_budget_usd: float = 20.0
    prices: dict[str, Price] = Field(default_factory=dict)
    max_output_tokens: dict[str, int] = Field(
        default_factory=lambda: {"summarise": 300, "draft_reply": 600, "triage_second_opinion": 200}
    )

    def specs(self) -> list[TitanSpec]:
        """The configured cloud Titans, in the default fallback order."""
        out: list[TitanSpec] = []
        if self.anthropic_api_key:
            out.append(TitanSpec("anthropic", "anthropic", self.anthropic_model,
                                 self.anthropic_api_key, self.anthropic_base_url))
        if self.openai_api_key:
            out.append(TitanSpec("openai", "openai", self.openai_model,
                                 self.openai_api_key, self.openai_base_url))
        if self.gemini_api_key:
            out.append(TitanSpec("gemini", "gemini", self.gemini_model,
                                 self.gemini_api_key, self.gemini_base_url))
        if self.grok_api_key:
            out.append(TitanSpec("grok", "grok", self.grok_model,
                                 self.grok_api_key, self.grok_base_url))
        if self.compat_base_url:
            out.append(TitanSpec(self.compat_name, "openai_compatible", self.compat_model,
                                 self.compat_api_key, self.compat_base_url))
        return out

    def budget_for(self, tenant: str) -> float:
        return self.monthly_budget_usd.get(tenant, self.default_monthly_budget_usd)

    def chain_for(self, tenant: str, task: str) -> list[str] | None:
        """The configured chain for (tenant, task), falling back to ``*``; None = all, in order."""
        for key in (tenant, "*"):
            chain = self.chains.get(key, {}).get(task)
            if chain is not None:
                return list(chain)
        return None
