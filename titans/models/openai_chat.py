"""OpenAI's Chat Completions API through the ``openai`` SDK (also used by Grok and compat)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from pydantic import SecretStr

from titans.base import Model, ModelResponse, Provider, StreamEvent, TitanRequest, Usage
from titans.errors import (
    BadResponse,
    install_hint,
    map_stainless_sdk_error,
)
from titans.prompts import chat_turns

logger = logging.getLogger(__name__)


def _sdk() -> Any:
    try:
        import openai
    except ImportError:
        raise install_hint("openai", "OpenAI") from None
    return openai


def map_openai_error(exc: BaseException, vendor: str = "openai") -> BaseException:
    """The one place where ``openai`` SDK errors become ours."""
    sdk = _sdk()
    return map_stainless_sdk_error(exc, sdk=sdk, base_error=sdk.OpenAIError, vendor=vendor)


class OpenAIProvider(Provider):
    """Owns an ``openai.AsyncOpenAI`` client; pass ``client`` to inject your own."""

    def __init__(
        self,
        *,
        api_key: SecretStr | None = None,
        base_url: str | None = None,
        client: Any | None = None,
        name: str = "openai",
    ) -> None:
        self.name = name
        if client is None:
            key = api_key.get_secret_value() if api_key is not None else "unused"
            # Retries are the router's job (with budgets and breakers), never the SDK's.
            client = _sdk().AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0)
        self.client = client

    @property
    def base_url(self) -> str:
        return str(self.client.base_url)

    async def aclose(self) -> None:
        await self.client.close()


class OpenAIChatModel(Model):
    """A chat model behind an OpenAI-style ``/chat/completions`` endpoint."""

    def __init__(
        self,
        model_name: str,
        provider: OpenAIProvider,
        *,
        name: str | None = None,
        token_param: str = "max_completion_tokens",
        structured: str = "json_schema",
        stream_usage: bool = True,
    ) -> None:
        self.model_name = model_name
        self.provider = provider
        self.name = name or provider.name
        self._token_param = token_param
        self._structured = structured
        self._stream_usage = stream_usage

    def _kwargs(self, request: TitanRequest) -> dict[str, Any]:
        messages: list[dict[str, str]] = [{"role": "system", "content": request.system}]
        messages += [{"role": t.role, "content": t.content} for t in chat_turns(request)]
        kwargs: dict[str, Any] = {
            "model": self.model_name,
            "messages": messages,
            self._token_param: request.max_tokens,
        }
        schema = request.output_schema()
        if schema is not None and request.output_type is not None:
            if self._structured == "json_schema":
                kwargs["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {
                        "name": request.output_type.__name__, "schema": schema, "strict": True,
                    },
                }
            elif self._structured == "json_object":
                kwargs["response_format"] = {"type": "json_object"}
        return kwargs

    async def request(self, request: TitanRequest, *, timeout_s: float) -> ModelResponse:
        try:
            resp = await self.provider.client.chat.completions.create(
                **self._kwargs(request), timeout=timeout_s
            )
        except Exception as exc:
            raise map_openai_error(exc, self.name) from exc
        if not resp.choices:
            raise BadResponse(f"{self.name}: no choices")
        choice = resp.choices[0]
        calls = tuple(
            getattr(getattr(tc, "function", None), "name", None) or "tool"
            for tc in (choice.message.tool_calls or [])
        )
        usage = (
            Usage(resp.usage.prompt_tokens or 0, resp.usage.completion_tokens or 0)
            if resp.usage is not None
            else Usage(estimated=True)
        )
        return ModelResponse(
            text=choice.message.content or "",
            usage=usage,
            model_name=resp.model or self.model_name,
            provider=self.name,
            tool_calls=calls,
            finish_reason=choice.finish_reason or "",
        )

    async def request_stream(
        self, request: TitanRequest, *, timeout_s: float
    ) -> AsyncIterator[StreamEvent]:
        extra: dict[str, Any] = {"stream_options": {"include_usage": True}} if self._stream_usage else {}
        usage = Usage(estimated=True)
        try:
            stream = await self.provider.client.chat.completions.create(
                **self._kwargs(request), stream=True, timeout=timeout_s, **extra
            )
            async for chunk in stream:
                if chunk.usage is not None:
                    usage = Usage(chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0)
                for choice in chunk.choices:
                    calls = tuple(
                        getattr(getattr(tc, "function", None), "name", None) or "tool"
                        for tc in (choice.delta.tool_calls or [])
                    )
                    if choice.delta.content or calls:
                        yield StreamEvent(delta=choice.delta.content or "", tool_calls=calls)
        except Exception as exc:
            raise map_openai_error(exc, self.name) from exc
        yield StreamEvent(usage=usage)

    async def aclose(self) -> None:
        await self.provider.aclose()
