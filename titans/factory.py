"""Builds the configured Titans and the router from settings (the only place that does)."""

from __future__ import annotations

from pathlib import Path

from titans.base import Model
from titans.config import TitanSpec, TitansSettings
from titans.ledger import BudgetLedger
from titans.models.local import LocalClassifier, LocalModel
from titans.router import TitanRouter


def build_model(spec: TitanSpec) -> Model:
    """One cloud Titan from its spec (imports its SDK, with an install hint if missing)."""
    if spec.kind == "anthropic":
        from titans.models.anthropic_messages import AnthropicModel, AnthropicProvider

        provider = AnthropicProvider(api_key=spec.api_key, base_url=spec.base_url, name=spec.name)
        return AnthropicModel(spec.model, provider, name=spec.name)
    if spec.kind == "gemini":
        from titans.models.gemini import GeminiModel, GeminiProvider

        gemini = GeminiProvider(api_key=spec.api_key, base_url=spec.base_url, name=spec.name)
        return GeminiModel(spec.model, gemini, name=spec.name)
    if spec.kind == "grok":
        from titans.models.grok import grok_model, grok_provider

        return grok_model(spec.model, grok_provider(spec.api_key, spec.base_url), name=spec.name)
    if spec.kind == "openai_compatible":
        from titans.models.compat import compat_model, compat_provider

        assert spec.base_url is not None
        compat = compat_provider(spec.base_url, spec.api_key, name=spec.name)
        return compat_model(spec.model, compat, name=spec.name)
    from titans.models.openai_chat import OpenAIChatModel, OpenAIProvider

    openai = OpenAIProvider(api_key=spec.api_key, base_url=spec.base_url, name=spec.name)
    return OpenAIChatModel(spec.model, openai, name=spec.name)


def build_models(settings: TitansSettings) -> list[Model]:
    """Every configured cloud Titan, in the default fallback order."""
    return [build_model(spec) for spec in settings.specs()]


def build_router(
    settings: TitansSettings, data_dir: Path, *, classifier: LocalClassifier | None = None
) -> TitanRouter:
    """The router with its ledger at ``<data_dir>/titans/ledger.sqlite3``."""
    ledger = BudgetLedger(data_dir / "titans" / "ledger.sqlite3")
    return TitanRouter(build_models(settings), LocalModel(classifier), ledger, settings)
