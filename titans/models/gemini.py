"""Google's Gemini API through the ``google-genai`` SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic import SecretStr

from titans.base import Model, ModelResponse, Provider, StreamEvent, TitanRequest, Usage
from titans.errors import (
    AuthError,
    BadResponse,
    InvalidRequest,
    RateLimited,
    TitanError,
    TitanTimeout,
    Transient,
    install_hint,
    parse_retry_after,
)
from titans.prompts import chat_turns

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/"


def _sdk() -> tuple[Any, Any, Any]:
    try:
        from google import genai
        from google.genai import errors, types
    except ImportError:
        raise install_hint("google-genai", "Gemini") from None
    return genai, types, errors


def _transport_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(timeouts, other transport errors) of whichever httpx flavour the SDK uses."""
    timeouts: list[type[BaseException]] = [TimeoutError]
    transport: list[type[BaseException]] = [ConnectionError]
    for module_name in ("httpx", "httpx2"):
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        timeouts.append(module.TimeoutException)
        transport.append(module.TransportError)
    return tuple(timeouts), tuple(transport)


def map_gemini_error(exc: BaseException, vendor: str = "gemini") -> BaseException:
    """The one place where ``google-genai`` errors become ours."""
    _, _, errors = _sdk()
    timeouts, transport = _transport_errors()
    if isinstance(exc, TitanError):
        return exc
    if isinstance(exc, errors.APIError):
        code = int(exc.code or 0)
        if code == 429:
            headers = getattr(exc.response, "headers", None)
            return RateLimited(f"{vendor}: rate limited", retry_after=parse_retry_after(headers))
        if code in (401, 403):
            return AuthError(f"{vendor}: HTTP {code}")
        if code >= 500 or code == 408:
            return Transient(f"{vendor}: HTTP {code}")
        return InvalidRequest(f"{vendor}: HTTP {code}")
    if isinstance(exc, timeouts):
        return TitanTimeout(f"{vendor}: timed out")
    if isinstance(exc, transport):
        return Transient(f"{vendor}: connection failed")
    if isinstance(exc, ValueError):  # the SDK's own parse failures
        return BadResponse(f"{vendor}: unusable response ({type(exc).__name__})")
    return exc


class GeminiProvider(Provider):
    """Owns a ``google.genai.Client`` (Gemini API, key auth); pass ``client`` to inject one."""

    def __init__(
        self,
        *,
        api_key: SecretStr | None = None,
        base_url: str | None = None,
        client: Any | None = None,
        name: str = "gemini",
    ) -> None:
        self.name = name
        self._base_url = base_url or DEFAULT_BASE_URL
        if client is None:
            genai, types, _ = _sdk()
            key = api_key.get_secret_value() if api_key is not None else None
            # No retry_options: the SDK then tries once; retries are the router's job.
            options = types.HttpOptions(base_url=base_url) if base_url else None
            client = genai.Client(api_key=key, http_options=options)
        self.client = client

    @property
    def base_url(self) -> str:
        return self._base_url

    async def aclose(self) -> None:
        await self.client.aio.aclose()


class GeminiModel(Model):
    """A Gemini model; token counting uses the vendor's countTokens endpoint."""

    exact_token_count = True

    def __init__(self, model_name: str, provider: GeminiProvider, *, name: str | None = None):
        self.model_name = model_name
        self.provider = provider
        self.name = name or provider.name

    @staticmethod
    def _contents(request: TitanRequest) -> list[Any]:
        _, types, _ = _sdk()
        return [
            types.Content(
                role="model" if t.role == "assistant" else "user", parts=[types.Part(text=t.content)]
            )
            for t in chat_turns(request)
        ]

    def _config(self, request: TitanRequest, timeout_s: float) -> Any:
        _, types, _ = _sdk()
        schema = request.output_schema()
        return types.GenerateContentConfig(
            system_instruction=request.system,
            max_output_tokens=request.max_tokens,
            response_mime_type="application/json" if schema is not None else None,
            response_json_schema=schema,
            http_options=types.HttpOptions(
                api_version="v1beta", timeout=max(1, int(timeout_s * 1000))
            ),
        )

    @staticmethod
    def _parts(resp: Any) -> tuple[str, tuple[str, ...]]:
        text, calls = [], []
        for candidate in (resp.candidates or [])[:1]:
            content = candidate.content
            for part in (content.parts if content is not None and content.parts else []):
                if part.function_call is not None:
                    calls.append(part.function_call.name or "tool")
                elif part.text and not part.thought:
                    text.append(part.text)
        return "".join(text), tuple(calls)

    @staticmethod
    def _usage(resp: Any) -> Usage | None:
        meta = resp.usage_metadata
        if meta is None or meta.prompt_token_count is None:
            return None
        return Usage(meta.prompt_token_count or 0, meta.candidates_token_count or 0)

    async def request(self, request: TitanRequest, *, timeout_s: float) -> ModelResponse:
        try:
            resp = await self.provider.client.aio.models.generate_content(
                model=self.model_name,
                contents=self._contents(request),
                config=self._config(request, timeout_s),
            )
        except Exception as exc:
            raise map_gemini_error(exc, self.name) from exc
        text, calls = self._parts(resp)
        finish = ""
        if resp.candidates and resp.candidates[0].finish_reason is not None:
            reason = resp.candidates[0].finish_reason
            finish = str(getattr(reason, "value", reason))
        return ModelResponse(
            text=text,
            usage=self._usage(resp) or Usage(estimated=True),
            model_name=resp.model_version or self.model_name,
            provider=self.name,
            tool_calls=calls,
            finish_reason=finish,
        )

    async def request_stream(
        self, request: TitanRequest, *, timeout_s: float
    ) -> AsyncIterator[StreamEvent]:
        usage = Usage(estimated=True)
        try:
            stream = await self.provider.client.aio.models.generate_content_stream(
                model=self.model_name,
                contents=self._contents(request),
                config=self._config(request, timeout_s),
            )
            async for chunk in stream:
                text, calls = self._parts(chunk)
                usage = self._usage(chunk) or usage
                if text or calls:
                    yield StreamEvent(delta=text, tool_calls=calls)
        except Exception as exc:
            raise map_gemini_error(exc, self.name) from exc
        yield StreamEvent(usage=usage)

    async def count_tokens(self, request: TitanRequest, *, timeout_s: float = 10.0) -> int:
        _, types, _ = _sdk()
        system = types.Content(role="user", parts=[types.Part(text=request.system)])
        try:
            resp = await self.provider.client.aio.models.count_tokens(
                model=self.model_name,
                contents=[system, *self._contents(request)],
                config=types.CountTokensConfig(
                    http_options=types.HttpOptions(
                        api_version="v1beta", timeout=max(1, int(timeout_s * 1000))
                    )
                ),
            )
        except Exception as exc:
            raise map_gemini_error(exc, self.name) from exc
        return int(resp.total_tokens or 0)

    async def aclose(self) -> None:
        await self.provider.aclose()
