"""Interceptors shared by every OMEGA gRPC server: errors → statuses, tenant metadata."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from federation.errors import ERROR_DOMAIN, OmegaError
from federation.tenancy import TENANT_METADATA_KEY, current_tenant

log = logging.getLogger(__name__)


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


def _tenant_from(context: grpc.aio.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == TENANT_METADATA_KEY:
            return str(value)
    return None


class ErrorAndTenantInterceptor(grpc.aio.ServerInterceptor):
    """Sets ``current_tenant`` from metadata and maps exceptions to gRPC statuses."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method

        def unary(fn: Callable[..., Any]) -> Callable[..., Any]:
            async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
                token = current_tenant.set(_tenant_from(context))
                try:
                    return await fn(request, context)
                except grpc.aio.AbortError:
                    raise
                except Exception as exc:  # noqa: BLE001 - mapped to a status
                    await _abort_for(exc, context, method)
                finally:
                    current_tenant.reset(token)

            return wrapped

        def streaming(fn: Callable[..., Any]) -> Callable[..., Any]:
            async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                token = current_tenant.set(_tenant_from(context))
                try:
                    async for item in fn(request, context):
                        yield item
                except grpc.aio.AbortError:
                    raise
                except Exception as exc:  # noqa: BLE001 - mapped to a status
                    await _abort_for(exc, context, method)
                finally:
                    current_tenant.reset(token)

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
