"""Interceptors shared by every OMEGA gRPC server and client.

Server side (``ErrorAndTenantInterceptor``, installed by ``federation.serving.new_server``), per
call: errors → gRPC statuses with ErrorInfo details; the tenant from metadata →
``current_tenant``; the W3C trace context (``traceparent``/``tracestate`` metadata) → the
OpenTelemetry context (a server span when an OpenTelemetry SDK is installed; with the API alone
the incoming context is carried unchanged); the call's deadline → ``current_deadline``; and,
when a token map is configured, ``authorization: Bearer <token>`` → the token's tenant and
technician (no token map, the embedded default: no authentication here; Istio and the gateway
authenticate in production).

Client side (``client_interceptors()``, for channels that call other OMEGA services): the
current trace context is injected as ``traceparent`` and the remaining deadline of the call
being served caps the outgoing call's timeout.
"""

from __future__ import annotations

import contextvars
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from federation.errors import ERROR_DOMAIN, OmegaError, PermissionDenied, Unauthenticated
from federation.tenancy import TECHNICIAN_METADATA_KEY, TENANT_METADATA_KEY, current_tenant

log = logging.getLogger(__name__)

# The technician a call acts for (metadata or the bearer token), like ``current_tenant``.
current_technician: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "omega_technician", default=None
)
# time.monotonic() by which the call being served must answer (None: no deadline).
current_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "omega_deadline", default=None
)


@dataclass(frozen=True)
class Principal:
    """Who a bearer token speaks for."""

    tenant: str
    technician: str = ""


class TokenMap:
    """Bearer tokens → principals (compared in constant time)."""

    def __init__(self, tokens: Mapping[str, Principal]) -> None:
        self._tokens = dict(tokens)

    def lookup(self, token: str) -> Principal | None:
        found = None
        for known, principal in self._tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                found = principal
        return found


def remaining_s() -> float | None:
    """Seconds left before the deadline of the call being served (None: no deadline)."""
    deadline = current_deadline.get()
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def status_for(exc: OmegaError) -> grpc.Status:
    """A rich gRPC status (code, message, ErrorInfo details) for a domain error."""
    info = error_details_pb2.ErrorInfo(reason=exc.reason, domain=ERROR_DOMAIN, metadata=exc.metadata)
    detail = any_pb2.Any()
    detail.Pack(info)
    proto = status_pb2.Status(code=exc.code.value[0], message=exc.message, details=[detail])
    return rpc_status.to_status(proto)


async def _abort_for(exc: BaseException, context: grpc.aio.ServicerContext, method: str) -> None:
    if isinstance(exc, OmegaError):
        await context.abort_with_status(status_for(exc))
    log.exception("unhandled error in %s", method)
    await context.abort(grpc.StatusCode.INTERNAL, "internal error; see server logs")


class _CallScope:
    """Everything one served call puts in context vars, undone in reverse on exit.

    Kept cheap, because it runs on every call (it is most of what an interceptor costs next to
    a bare handler): the trace context is only extracted when the caller sent one, and a
    server span is only started when an OpenTelemetry SDK is installed (with the API alone a
    span would record nothing; the caller's context is carried either way).
    """

    __slots__ = ("_context", "_method", "_tokens", "_tokens_to_reset", "_otel_tokens", "_span")

    def __init__(self, context: grpc.aio.ServicerContext, method: str, tokens: TokenMap | None) -> None:
        self._context = context
        self._method = method
        self._tokens = tokens
        self._tokens_to_reset: list[tuple[contextvars.ContextVar[Any], contextvars.Token[Any]]] = []
        self._otel_tokens: list[object] = []
        self._span: Any = None

    def enter(self) -> None:
        md = {str(k): str(v) for k, v in (self._context.invocation_metadata() or ())}
        tenant, technician = md.get(TENANT_METADATA_KEY), md.get(TECHNICIAN_METADATA_KEY)
        self._set(current_tenant, tenant)
        self._set(current_technician, technician)
        remaining = self._context.time_remaining()
        self._set(current_deadline, None if remaining is None else time.monotonic() + remaining)
        if _TRACE_KEYS.intersection(md):
            self._otel_tokens.append(otel_context.attach(propagate.extract(md)))
        if _tracing_sdk_installed():
            tracer = trace.get_tracer("omega.federation")
            self._span = tracer.start_span(self._method, kind=trace.SpanKind.SERVER)
            self._otel_tokens.append(otel_context.attach(trace.set_span_in_context(self._span)))
        if self._tokens is not None:
            self._authenticate(md.get("authorization", ""), tenant, technician)

    def _authenticate(self, header: str, tenant: str | None, technician: str | None) -> None:
        assert self._tokens is not None
        scheme, _, token = header.partition(" ")
        principal = self._tokens.lookup(token.strip()) if scheme.lower() == "bearer" else None
        if principal is None:
            raise Unauthenticated("a valid bearer token is required", reason="BAD_TOKEN")
        if tenant and tenant != principal.tenant:
            raise PermissionDenied("the token is not valid for this tenant", reason="WRONG_TENANT")
        if technician and principal.technician and technician != principal.technician:
            raise PermissionDenied("the token is not this technician's", reason="WRONG_TECHNICIAN")
        current_tenant.set(principal.tenant)
        current_technician.set(principal.technician or technician)

    def _set(self, var: contextvars.ContextVar[Any], value: Any) -> None:
        self._tokens_to_reset.append((var, var.set(value)))

    def exit(self, error: BaseException | None = None) -> None:
        if self._span is not None:
            if error is not None and not isinstance(error, grpc.aio.AbortError):
                self._span.record_exception(error)
            self._span.end()
        for otel_token in reversed(self._otel_tokens):
            try:
                otel_context.detach(otel_token)  # type: ignore[arg-type]
            except ValueError:  # detached from another context (a cancelled stream); harmless
                pass
        for var, token in reversed(self._tokens_to_reset):
            try:
                var.reset(token)
            except ValueError:  # reset from another context (a cancelled stream); harmless
                pass
        self._otel_tokens.clear()
        self._tokens_to_reset.clear()


# Metadata keys the default OpenTelemetry propagators read (W3C trace context and baggage).
_TRACE_KEYS = frozenset({"traceparent", "tracestate", "baggage"})


_sdk_check = [0.0, False]  # monotonic time of the last check, its answer


def _tracing_sdk_installed() -> bool:
    """Whether spans would record anything: a tracer provider other than the API's proxy.

    Asked on every call, answered from a check at most a second old (the API's lookup reads
    the environment each time; an SDK is installed once, at start-up).
    """
    now = time.monotonic()
    if now - _sdk_check[0] > 1.0:
        _sdk_check[0] = now
        _sdk_check[1] = not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    return bool(_sdk_check[1])


class ErrorAndTenantInterceptor(grpc.aio.ServerInterceptor):
    """Sets the call's context (tenant, technician, deadline, trace, principal) and maps
    exceptions to gRPC statuses. ``tokens``: bearer tokens accepted (None: no authentication)."""

    def __init__(self, tokens: TokenMap | None = None) -> None:
        self._tokens = tokens
        # method → (the registered handler, its wrapped form): handlers are registered once, so
        # each is wrapped once instead of on every call.
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        return self.wrap(handler, handler_call_details.method)

    def wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        """``handler`` of ``method`` with the call's context and error mapping around it (made
        once per method and handler, then cached)."""
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(handler, method)
        if len(self._wrapped) < 4096:  # method names come from the registered services
            self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        def unary(fn: Callable[..., Any]) -> Callable[..., Any]:
            async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
                scope = _CallScope(context, method, self._tokens)
                error: BaseException | None = None
                try:
                    scope.enter()
                    return await fn(request, context)
                except grpc.aio.AbortError:
                    raise
                except Exception as exc:  # noqa: BLE001 - mapped to a status
                    error = exc
                    await _abort_for(exc, context, method)
                finally:
                    scope.exit(error)

            return wrapped

        def streaming(fn: Callable[..., Any]) -> Callable[..., Any]:
            async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                scope = _CallScope(context, method, self._tokens)
                error: BaseException | None = None
                try:
                    scope.enter()
                    async for item in fn(request, context):
                        yield item
                except grpc.aio.AbortError:
                    raise
                except Exception as exc:  # noqa: BLE001 - mapped to a status
                    error = exc
                    await _abort_for(exc, context, method)
                finally:
                    scope.exit(error)

            return wrapped

        kwargs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(unary(handler.unary_unary), **kwargs)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(unary(handler.stream_unary), **kwargs)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(streaming(handler.unary_stream), **kwargs)
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(streaming(handler.stream_stream), **kwargs)
        return handler


# ---- client side -----------------------------------------------------------------------------
def _outgoing(details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    metadata = list(details.metadata or ())
    present = {str(k) for k, _ in metadata}
    metadata += [(k, v) for k, v in carrier.items() if k not in present]
    timeout = details.timeout
    left = remaining_s()
    if left is not None and (timeout is None or left < timeout):
        timeout = left
    return grpc.aio.ClientCallDetails(
        details.method, timeout, grpc.aio.Metadata(*metadata), details.credentials,
        details.wait_for_ready,
    )


class _UnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_outgoing(details), request)


class _UnaryStream(grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_outgoing(details), request)


class _StreamUnary(grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(_outgoing(details), requests)


def client_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """Interceptors for channels to other OMEGA services: trace context and deadline propagation
    (``grpc.aio.insecure_channel(target, interceptors=client_interceptors())``)."""
    return [_UnaryUnary(), _UnaryStream(), _StreamUnary()]
