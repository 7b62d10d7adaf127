"""The Titans' error tree: every vendor SDK error is mapped to one of these, in one place per vendor.

The router decides on these classes alone: ``retryable`` errors (rate limits, 5xx, timeouts) are
retried with jitter on the same provider; anything else moves on to the next provider in the chain.
Each class carries a gRPC code through ``federation.errors.OmegaError``.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any

import grpc

from federation.errors import OmegaError


class TitanError(OmegaError):
    """Base of every Titan failure."""

    code = grpc.StatusCode.UNAVAILABLE
    http_status = 503
    reason = "TITAN_ERROR"
    retryable: bool = False


class RateLimited(TitanError):
    """HTTP 429: the vendor asks us to slow down, ``retry_after`` seconds when it says so."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_status = 429
    reason = "TITAN_RATE_LIMITED"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Transient(TitanError):
    """5xx, overload or a dropped connection: worth another try."""

    reason = "TITAN_TRANSIENT"
    retryable = True


class TitanTimeout(Transient):
    """The call did not answer within its per-call timeout."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED
    http_status = 504
    reason = "TITAN_TIMEOUT"


class BadResponse(TitanError):
    """The answer was malformed JSON, missed the schema, called a tool or followed an injection."""

    code = grpc.StatusCode.INTERNAL
    http_status = 502
    reason = "TITAN_BAD_RESPONSE"


class OutputRejected(BadResponse):
    """The guard refused the answer (tool call, fields not asked for, leak, injected value)."""

    reason = "TITAN_OUTPUT_REJECTED"


class AuthError(TitanError):
    """401/403: the key is missing, wrong or lacks permission. Never retried."""

    code = grpc.StatusCode.UNAUTHENTICATED
    http_status = 401
    reason = "TITAN_AUTH"


class InvalidRequest(TitanError):
    """Another 4xx (bad model name, request too large): never retried on the same provider."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    http_status = 400
    reason = "TITAN_INVALID_REQUEST"


class BudgetExceeded(TitanError):
    """The tenant's monthly budget cannot cover the estimated maximum cost of the call."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_status = 429
    reason = "TITAN_BUDGET_EXCEEDED"


class CircuitOpen(TitanError):
    """The provider failed too often lately; it is skipped until its cool-down ends."""

    reason = "TITAN_CIRCUIT_OPEN"


class NotConfigured(TitanError):
    """The Titan (or its SDK, or the local callable) is not configured here."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    http_status = 409
    reason = "TITAN_NOT_CONFIGURED"


def parse_retry_after(headers: object, *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``retry-after`` (seconds or HTTP date)."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    raw_ms = get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(str(raw)).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def install_hint(package: str, vendor: str) -> NotConfigured:
    """The error raised when a vendor SDK is not installed."""
    return NotConfigured(
        f"the {vendor} Titan needs the {package!r} package: pip install {package}",
        reason="TITAN_SDK_MISSING",
    )


def map_stainless_sdk_error(
    exc: BaseException, *, sdk: Any, base_error: type[BaseException], vendor: str
) -> BaseException:
    """SDK errors of the OpenAI and Anthropic clients (one exception tree shape) become ours.

    Messages carry the vendor and the HTTP status, never the response body.
    """
    if isinstance(exc, TitanError):
        return exc
    if isinstance(exc, sdk.RateLimitError):
        return RateLimited(
            f"{vendor}: rate limited", retry_after=parse_retry_after(exc.response.headers)
        )
    if isinstance(exc, sdk.AuthenticationError | sdk.PermissionDeniedError):
        return AuthError(f"{vendor}: HTTP {exc.status_code}")
    if isinstance(exc, sdk.APITimeoutError):
        return TitanTimeout(f"{vendor}: timed out")
    if isinstance(exc, sdk.APIConnectionError):
        return Transient(f"{vendor}: connection failed")
    if isinstance(exc, sdk.APIStatusError):
        if exc.status_code >= 500 or exc.status_code == 408:  # Anthropic's 529 = overloaded
            return Transient(f"{vendor}: HTTP {exc.status_code}")
        return InvalidRequest(f"{vendor}: HTTP {exc.status_code}")
    if isinstance(exc, base_error):
        return BadResponse(f"{vendor}: unusable response ({type(exc).__name__})")
    return exc
