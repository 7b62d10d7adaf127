"""The shared interceptors: W3C trace context and deadlines across a hop, bearer-token auth."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from opentelemetry import trace

from federation import interceptors
from federation.interceptors import (
    ErrorAndTenantInterceptor,
    Principal,
    TokenMap,
    client_interceptors,
    current_technician,
    remaining_s,
)
from federation.serving import new_server
from federation.tenancy import current_tenant

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
METHOD = "/test.Echo/Observe"


def _observed() -> bytes:
    ctx = trace.get_current_span().get_span_context()
    return json.dumps({
        "trace_id": format(ctx.trace_id, "032x") if ctx.is_valid else "",
        "tenant": current_tenant.get(), "technician": current_technician.get(),
        "remaining": remaining_s(),
    }).encode()


def _handler(fn: Callable[[bytes, Any], Any]) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        "test.Echo", {"Observe": grpc.unary_unary_rpc_method_handler(fn)}
    )


async def _serve(server: grpc.aio.Server, fn: Callable[[bytes, Any], Any]) -> str:
    server.add_generic_rpc_handlers((_handler(fn),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return f"127.0.0.1:{port}"


@pytest.fixture
async def servers() -> AsyncIterator[list[grpc.aio.Server]]:
    made: list[grpc.aio.Server] = []
    yield made
    for s in made:
        await s.stop(0)


async def test_trace_context_and_deadline_follow_the_call_to_the_next_service(
    servers: list[grpc.aio.Server],
) -> None:
    async def leaf(request: bytes, context: Any) -> bytes:
        return _observed()

    leaf_server = new_server()
    servers.append(leaf_server)
    leaf_addr = await _serve(leaf_server, leaf)

    async def middle(request: bytes, context: Any) -> bytes:
        async with grpc.aio.insecure_channel(leaf_addr, interceptors=client_interceptors()) as ch:
            # Asks for 60 s, but the caller only gave this call 5 s: the deadline is capped.
            return bytes(await ch.unary_unary(METHOD)(b"", timeout=60))

    middle_server = new_server()
    servers.append(middle_server)
    middle_addr = await _serve(middle_server, middle)
    async with grpc.aio.insecure_channel(middle_addr) as ch:
        seen = json.loads(
            await ch.unary_unary(METHOD)(b"", timeout=5, metadata=(("traceparent", TRACEPARENT),))
        )
    assert seen["trace_id"] == TRACE_ID
    assert seen["remaining"] is not None and seen["remaining"] <= 5.5  # not the 60 s asked for


async def test_without_a_token_map_calls_are_not_authenticated(servers: list[grpc.aio.Server]) -> None:
    async def fn(request: bytes, context: Any) -> bytes:
        return _observed()

    server = new_server()
    servers.append(server)
    addr = await _serve(server, fn)
    async with grpc.aio.insecure_channel(addr) as ch:
        seen = json.loads(await ch.unary_unary(METHOD)(b"", timeout=5, metadata=(("x-omega-tenant", "acme"),)))
    assert seen["tenant"] == "acme" and seen["trace_id"] == ""


async def test_bearer_token_sets_tenant_and_technician_and_bad_tokens_are_refused(
    servers: list[grpc.aio.Server],
) -> None:
    async def fn(request: bytes, context: Any) -> bytes:
        return _observed()

    tokens = TokenMap({"s3cret": Principal("acme", "tech-7")})
    server = grpc.aio.server(interceptors=[ErrorAndTenantInterceptor(tokens)])
    servers.append(server)
    addr = await _serve(server, fn)
    async with grpc.aio.insecure_channel(addr) as ch:
        call = ch.unary_unary(METHOD)
        seen = json.loads(await call(b"", timeout=5, metadata=(("authorization", "Bearer s3cret"),)))
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await call(b"", timeout=5)
        with pytest.raises(grpc.aio.AioRpcError) as wrong:
            await call(b"", timeout=5, metadata=(("authorization", "Bearer nope"),))
        with pytest.raises(grpc.aio.AioRpcError) as other_tenant:
            await call(b"", timeout=5, metadata=(
                ("authorization", "Bearer s3cret"), ("x-omega-tenant", "globex")))
    assert (seen["tenant"], seen["technician"]) == ("acme", "tech-7")
    assert missing.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert wrong.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert other_tenant.value.code() == grpc.StatusCode.PERMISSION_DENIED


class _RecordingTracer(trace.Tracer):
    """The smallest tracer that records spans: stands in for an OpenTelemetry SDK."""

    def __init__(self, spans: list[tuple[str, str]]) -> None:
        self.spans = spans

    def start_span(self, name: str, context: Any = None, kind: Any = None, *args: Any, **kwargs: Any) -> trace.Span:
        parent = trace.get_current_span(context).get_span_context()
        tracer = self

        class _Span(trace.NonRecordingSpan):
            def is_recording(self) -> bool:
                return True

            def record_exception(self, exception: BaseException, *a: Any, **k: Any) -> None:
                tracer.spans.append((name, f"error:{type(exception).__name__}"))

            def end(self, end_time: int | None = None) -> None:
                tracer.spans.append((name, "ended"))

        return _Span(parent)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - unused
        raise NotImplementedError


class _RecordingProvider(trace.TracerProvider):
    def __init__(self) -> None:
        self.spans: list[tuple[str, str]] = []

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _RecordingTracer(self.spans)


async def test_server_spans_are_recorded_only_when_a_tracing_sdk_is_installed(
    servers: list[grpc.aio.Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an SDK no span is started (the per-call cost the interceptor saves) and the
    caller's trace context is still carried; with one, every call gets a server span that ends,
    failures recorded on it. The interceptor wraps each method once and reuses the wrapper."""

    async def fn(request: bytes, context: Any) -> bytes:
        if request == b"fail":
            raise RuntimeError("boom")
        return _observed()

    interceptor = ErrorAndTenantInterceptor()
    server = grpc.aio.server(interceptors=[interceptor])
    servers.append(server)
    addr = await _serve(server, fn)
    provider = _RecordingProvider()
    async with grpc.aio.insecure_channel(addr) as ch:
        call = ch.unary_unary(METHOD)
        plain = json.loads(await call(b"", timeout=5, metadata=(("traceparent", TRACEPARENT),)))
        assert plain["trace_id"] == TRACE_ID and provider.spans == []
        monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
        monkeypatch.setattr(interceptors, "_sdk_check", [0.0, False])  # as if a second passed
        traced = json.loads(await call(b"", timeout=5, metadata=(("traceparent", TRACEPARENT),)))
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await call(b"fail", timeout=5)
    assert traced["trace_id"] == TRACE_ID  # the server span continues the caller's trace
    assert failed.value.code() == grpc.StatusCode.INTERNAL
    # The caller hears the failure as the server aborts; the span ends just after (bounded wait).
    for _ in range(200):
        if len(provider.spans) >= 3:
            break
        await asyncio.sleep(0.01)
    assert provider.spans == [(METHOD, "ended"), (METHOD, "error:RuntimeError"), (METHOD, "ended")]
    assert list(interceptor._wrapped) == [METHOD]  # wrapped once, reused for all three calls
