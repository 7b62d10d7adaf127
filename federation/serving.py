"""Shared plumbing for every OMEGA gRPC server: interceptors, health and reflection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from federation.interceptors import ErrorAndTenantInterceptor

# Large enough for a PSA payload with inline attachments; bigger payloads are refused clearly.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class ServingStatus:
    """Health for a server: SERVING once started, NOT_SERVING before a graceful stop."""

    def __init__(self, servicer: health.aio.HealthServicer, services: list[str]) -> None:
        self._servicer = servicer
        self._services = ["", *services]

    async def set(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in self._services:
            await self._servicer.set(name, status)


def new_server(extra_interceptors: list[grpc.aio.ServerInterceptor] | None = None) -> grpc.aio.Server:
    """A grpc.aio server with OMEGA's call context, error mapping and message limits.

    Two things differ from a plain ``grpc.aio.server(interceptors=[...])``, both because they
    cost on every call:

    - ``ErrorAndTenantInterceptor`` is applied when services are added (each method handler is
      wrapped once), not as a gRPC server interceptor: grpc.aio runs its interceptor chain, a
      coroutine per interceptor, on every call. The behaviour is the same (tested);
      ``extra_interceptors``, if any, run as gRPC interceptors, so before the call context.
    - Services are served through their generic handlers only. The generated ``add_*_to_server``
      functions (grpcio ≥ 1.62) register every service twice: as a generic handler and as
      "registered methods". For registered methods grpc.aio keeps one pending request per
      method and, after every call, waits again on all of them (``asyncio.wait`` over ~50
      tasks in ``omega up``, adding and removing a callback on each): a cost per call that
      grows with the number of methods served. The generic handler serves the same methods, so
      the second registration is skipped: ``omega up`` accepted ~12 % more ingest calls per
      second without it (docs/benchmarks.md).
    """
    server = grpc.aio.server(
        interceptors=extra_interceptors or None,
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    context = ErrorAndTenantInterceptor()
    add_generic = server.add_generic_rpc_handlers

    def add_generic_rpc_handlers(handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        add_generic(tuple(_InContext(handler, context) for handler in handlers))

    server.add_generic_rpc_handlers = add_generic_rpc_handlers
    server.add_registered_method_handlers = _served_by_the_generic_handler
    return server


class _InContext(grpc.GenericRpcHandler):
    """A service's generic handler whose method handlers run inside the call context."""

    def __init__(self, inner: grpc.GenericRpcHandler, context: ErrorAndTenantInterceptor) -> None:
        self._inner = inner
        self._context = context

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        handler = self._inner.service(handler_call_details)
        if handler is None:
            return None
        return self._context.wrap(handler, handler_call_details.method)


def _served_by_the_generic_handler(service_name: str, method_handlers: dict[str, Any]) -> None:
    """Drops a registered-method registration (see ``new_server``)."""


def add_health_and_reflection(server: grpc.aio.Server, service_names: list[str]) -> ServingStatus:
    """Register grpc.health.v1 and reflection for ``service_names``; returns the health switch."""
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    names = [*service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name]
    reflection.enable_server_reflection([*names, reflection.SERVICE_NAME], server)
    return ServingStatus(servicer, service_names)
