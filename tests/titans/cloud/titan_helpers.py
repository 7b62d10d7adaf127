"""Builders shared by the cloud Titan tests (real SDK clients pointed at the stand-ins)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import SecretStr

from titans.base import Model, TicketData
from titans.config import TitansSettings
from titans.ledger import BudgetLedger
from titans.models.anthropic_messages import AnthropicModel, AnthropicProvider
from titans.models.compat import compat_model, compat_provider
from titans.models.gemini import GeminiModel, GeminiProvider
from titans.models.grok import grok_model, grok_provider
from titans.models.local import LocalModel
from titans.models.openai_chat import OpenAIChatModel, OpenAIProvider
from titans.router import TitanRouter

FAKE_KEY = SecretStr("test-key-not-real")


def model_for(vendor: str, base_url: str, *, name: str | None = None) -> Model:
    """A real-SDK model of ``vendor`` pointed at a stand-in."""
    if vendor == "openai":
        return OpenAIChatModel("gpt-4o-mini",
                               OpenAIProvider(api_key=FAKE_KEY, base_url=base_url),
                               name=name or "openai")
    if vendor == "anthropic":
        return AnthropicModel("claude-haiku-4-5",
                              AnthropicProvider(api_key=FAKE_KEY, base_url=base_url),
                              name=name or "anthropic")
    if vendor == "gemini":
        return GeminiModel("gemini-2.5-flash",
                           GeminiProvider(api_key=FAKE_KEY, base_url=base_url),
                           name=name or "gemini")
    if vendor == "grok":
        return grok_model("grok-3-mini", grok_provider(FAKE_KEY, base_url), name=name or "grok")
    if vendor == "compat":
        return compat_model("llama-3.1-8b", compat_provider(base_url, None, name=name or "vllm"))
    raise ValueError(vendor)


def settings(**overrides: Any) -> TitansSettings:
    """Fast router settings for tests (tiny backoff, short timeout)."""
    values: dict[str, Any] = {
        "timeout_s": 2.0, "max_retries": 2, "backoff_s": 0.001, "backoff_max_s": 0.01,
        "max_retry_after_s": 1.0, "breaker_failures": 3, "breaker_cooldown_s": 60.0,
        "default_monthly_budget_usd": 5.0,
    }
    values.update(overrides)
    return TitansSettings(**values)


def router(models: list[Model], tmp_path: Path | None = None, **overrides: Any) -> TitanRouter:
    ledger = BudgetLedger(tmp_path / "ledger.sqlite3" if tmp_path else None)
    classifier = lambda text: ("network", "P3", 0.42)  # noqa: E731
    return TitanRouter(models, LocalModel(classifier), ledger, settings(**overrides),
                       canary="omega-canary-test")


def ticket(body: str = "The printer on floor 3 shows error 0x8007 and prints nothing.",
           subject: str = "Printer not printing", ticket_id: str = "T-1") -> TicketData:
    return TicketData(ticket_id=ticket_id, subject=subject, body=body)
