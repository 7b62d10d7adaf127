"""xAI's Grok through its OpenAI-compatible REST endpoint (``https://api.x.ai/v1``).

Why not ``xai-sdk``: it speaks gRPC to xAI, adds a second client stack (and its own retry
layer) for what is the same chat-completions call here, and cannot be pointed at the plain
HTTP stand-ins our tests use. xAI documents the OpenAI-compatible endpoint for exactly this.
"""

from __future__ import annotations

from pydantic import SecretStr

from titans.config import GROK_BASE_URL
from titans.models.openai_chat import OpenAIChatModel, OpenAIProvider


def grok_provider(api_key: SecretStr | None, base_url: str | None = None) -> OpenAIProvider:
    """An OpenAI SDK client pointed at xAI."""
    return OpenAIProvider(api_key=api_key, base_url=base_url or GROK_BASE_URL, name="grok")


def grok_model(model_name: str, provider: OpenAIProvider, *, name: str = "grok") -> OpenAIChatModel:
    """A Grok model (xAI takes ``max_tokens`` and ``response_format`` json_schema)."""
    return OpenAIChatModel(model_name, provider, name=name, token_param="max_tokens")
