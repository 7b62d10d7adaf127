"""OMEGA's one error model: every domain exception carries its gRPC status code.

Packages subclass these (for example ``IngestError``); the shared interceptor in
``federation.interceptors`` turns them into gRPC statuses with ``google.rpc.ErrorInfo`` details,
and the HTTP gateway into 4xx/5xx answers. Tests assert codes, not prose.
"""

from __future__ import annotations

import asyncio

import grpc


def cancelled_by_caller() -> bool:
    """Whether a ``CancelledError`` caught in the running task is a real cancellation of that
    task (``Task.cancel``: shutdown, a caller giving up), as opposed to one raised from inside a
    library it awaited (aiohttp can, on a dropped connection): long-running loops re-raise the
    first and log and survive the second."""
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


class OmegaError(Exception):
    """Base of every expected error; unknown exceptions become INTERNAL."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    http_status: int = 500
    reason: str = "INTERNAL"

    def __init__(self, message: str, *, reason: str | None = None, **metadata: str) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.metadata = {k: str(v) for k, v in metadata.items()}


class InvalidArgument(OmegaError):
    """The request is malformed (bad JSON, unknown vendor shape, missing field)."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    http_status = 400
    reason = "INVALID_ARGUMENT"


class NotFound(OmegaError):
    """The thing named does not exist for this tenant (never says whether another tenant has it)."""

    code = grpc.StatusCode.NOT_FOUND
    http_status = 404
    reason = "NOT_FOUND"


class AlreadyExists(OmegaError):
    code = grpc.StatusCode.ALREADY_EXISTS
    http_status = 409
    reason = "ALREADY_EXISTS"


class FailedPrecondition(OmegaError):
    """The request is valid but the thing is not in a state that allows it."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    http_status = 409
    reason = "FAILED_PRECONDITION"


class Unauthenticated(OmegaError):
    code = grpc.StatusCode.UNAUTHENTICATED
    http_status = 401
    reason = "UNAUTHENTICATED"


class PermissionDenied(OmegaError):
    code = grpc.StatusCode.PERMISSION_DENIED
    http_status = 403
    reason = "PERMISSION_DENIED"


class ResourceExhausted(OmegaError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_status = 429
    reason = "RESOURCE_EXHAUSTED"


class Unavailable(OmegaError):
    """A store or dependency is down: the caller should retry; nothing was accepted."""

    code = grpc.StatusCode.UNAVAILABLE
    http_status = 503
    reason = "UNAVAILABLE"


ERROR_DOMAIN = "omega.msp"
