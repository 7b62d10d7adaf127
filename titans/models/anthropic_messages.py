"""Anthropic's Messages API through the ``anthropic`` SDK (Claude)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic import SecretStr

from titans.base import Model, ModelResponse, Provider, StreamEvent, TitanRequest, Usage
from titans.errors import (
    install_hint,
    map_stainless_sdk_error,
)
from titans.prompts import chat_turns

_TOOL_BLOCKS = ("tool_use", "server_tool_use", "mcp_tool_use")


def _sdk() -> Any:
    try:
        import anthropic
    except ImportError:
        raise install_hint("anthropic", "Anthropic") from None
    return anthropic


def map_anthropic_error(exc: BaseException, vendor: str = "anthropic") -> BaseException:
    """The one place where ``anthropic`` SDK errors become ours."""
    sdk = _sdk()
    return map_stainless_sdk_error(exc, sdk=sdk, base_error=sdk.AnthropicError, vendor=vendor)


class AnthropicProvider(Provider):
    """Owns an ``anthropic.AsyncAnthropic`` client; pass ``client`` to inject your own."""

    def __init__(
        self,
        *,
        api_key: SecretStr | None = None,
        base_url: str | None = None,
        client: Any | None = None,
        name: str = "anthropic",
    ) -> None:
        self.name = name
        if client is None:
            key = api_key.get_secret_value() if api_key is not None else None
            client = _sdk().AsyncAnthropic(api_key=key, base_url=base_url, max_retries=0)
        self.client = client

    @property
    def base_url(self) -> str:
        return str(self.client.base_url)

    async def aclose(self) -> None:
        await self.client.close()


class AnthropicModel(Model):
    """A Claude model; token counting uses the vendor's count_tokens endpoint."""

    exact_token_count = True

    def __init__(self, model_name: str, provider: AnthropicProvider, *, name: str | None = None):
        self.model_name = model_name
        self.provider = provider
        self.name = name or provider.name

    def _kwargs(self, request: TitanRequest, *, with_output: bool = True) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model_name,
            "system": request.system,
            "messages": [{"role": t.role, "content": t.content} for t in chat_turns(request)],
        }
        schema = request.output_schema()
        if schema is not None and with_output:
            kwargs["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        return kwargs

    async def request(self, request: TitanRequest, *, timeout_s: float) -> ModelResponse:
        try:
            resp = await self.provider.client.messages.create(
                **self._kwargs(request), max_tokens=request.max_tokens, timeout=timeout_s
            )
        except Exception as exc:
            raise map_anthropic_error(exc, self.name) from exc
        text = "".join(b.text for b in resp.content if getattr(b, "type", "") == "text")
        calls = tuple(
            getattr(b, "name", "tool") for b in resp.content if getattr(b, "type", "") in _TOOL_BLOCKS
        )
        return ModelResponse(
            text=text,
            usage=Usage(resp.usage.input_tokens or 0, resp.usage.output_tokens or 0),
            model_name=resp.model or self.model_name,
            provider=self.name,
            tool_calls=calls,
            finish_reason=str(resp.stop_reason or ""),
        )

    async def request_stream(
        self, request: TitanRequest, *, timeout_s: float
    ) -> AsyncIterator[StreamEvent]:
        input_tokens = output_tokens = 0
        try:
            stream = await self.provider.client.messages.create(
                **self._kwargs(request), max_tokens=request.max_tokens, stream=True,
                timeout=timeout_s,
            )
            async for event in stream:
                kind = getattr(event, "type", "")
                if kind == "message_start":
                    input_tokens = event.message.usage.input_tokens or 0
                    output_tokens = event.message.usage.output_tokens or 0
                elif kind == "content_block_start" and event.content_block.type in _TOOL_BLOCKS:
                    yield StreamEvent(tool_calls=(getattr(event.content_block, "name", "tool"),))
                elif kind == "content_block_delta" and event.delta.type == "text_delta":
                    yield StreamEvent(delta=event.delta.text)
                elif kind == "message_delta" and event.usage is not None:
                    output_tokens = event.usage.output_tokens or output_tokens
        except Exception as exc:
            raise map_anthropic_error(exc, self.name) from exc
        yield StreamEvent(usage=Usage(input_tokens, output_tokens))

    async def count_tokens(self, request: TitanRequest, *, timeout_s: float = 10.0) -> int:
        try:
            resp = await self.provider.client.messages.count_tokens(
                **self._kwargs(request), timeout=timeout_s
            )
        except Exception as exc:
            raise map_anthropic_error(exc, self.name) from exc
        return int(resp.input_tokens)

    async def aclose(self) -> None:
        await self.provider.aclose()
