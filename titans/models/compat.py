"""Any OpenAI-compatible endpoint (vLLM, Ollama, LM Studio, llama.cpp, gateways, "Augment"...).

Self-hosted servers differ in what they accept: ``structured`` picks ``json_schema`` (vLLM,
recent Ollama), ``json_object`` or ``none`` (the guard still validates the answer), and
``stream_usage`` turns off ``stream_options`` for servers that reject it.
"""

from __future__ import annotations

from pydantic import SecretStr

from titans.models.openai_chat import OpenAIChatModel, OpenAIProvider


def compat_provider(
    base_url: str, api_key: SecretStr | None = None, *, name: str = "compat"
) -> OpenAIProvider:
    """An OpenAI SDK client pointed at ``base_url`` (a key is optional for self-hosted)."""
    return OpenAIProvider(api_key=api_key, base_url=base_url, name=name)


def compat_model(
    model_name: str,
    provider: OpenAIProvider,
    *,
    name: str | None = None,
    structured: str = "json_schema",
    stream_usage: bool = True,
) -> OpenAIChatModel:
    """A model behind an OpenAI-compatible endpoint (``max_tokens``, as most servers expect)."""
    return OpenAIChatModel(
        model_name, provider, name=name or provider.name, token_param="max_tokens",
        structured=structured, stream_usage=stream_usage,
    )
