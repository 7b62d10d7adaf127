"""The connectors' errors: bad payloads (HTTP 400 / INVALID_ARGUMENT) and bad signatures (401).

Every error carries a stable ``reason`` (tests and callers branch on it, never on the message).
Messages never quote ticket text: at most a key name, a JSON position or the vendor's own error.
"""

from __future__ import annotations

from enum import StrEnum

from federation.errors import InvalidArgument, Unauthenticated, Unavailable


class ConnectorReason(StrEnum):
    """Why a payload was refused."""

    MALFORMED_JSON = "MALFORMED_JSON"  # not UTF-8/JSON (the message gives line, column, offset)
    NOT_AN_OBJECT = "NOT_AN_OBJECT"  # valid JSON, but not a JSON object
    UNKNOWN_SHAPE = "UNKNOWN_SHAPE"  # no connector recognises the payload
    AMBIGUOUS_SHAPE = "AMBIGUOUS_SHAPE"  # more than one connector recognises it: name the source
    WRONG_SOURCE = "WRONG_SOURCE"  # the payload has another vendor's shape than the named one
    MISSING_ID = "MISSING_ID"  # the payload has no usable ticket/alert id
    MALFORMED_FIELD = "MALFORMED_FIELD"  # a field has the wrong type or value
    SOURCE_ERROR = "SOURCE_ERROR"  # the vendor's envelope reports a failure (BMS Success:false)
    NOT_A_TICKET = "NOT_A_TICKET"  # a valid event about something else (contact, deactivation, …)
    BATCH_NOT_SUPPORTED = "BATCH_NOT_SUPPORTED"  # a page of several tickets: send them one by one


class ConnectorError(InvalidArgument):
    """A payload the connectors cannot read; ``reason`` is a ``ConnectorReason`` value.

    ``NOT_A_TICKET`` is a well-formed delivery OMEGA has nothing to do with: webhook endpoints
    should acknowledge it (2xx) so the vendor does not retry or deactivate the webhook.
    """

    reason = ConnectorReason.UNKNOWN_SHAPE.value

    def __init__(self, message: str, *, reason: ConnectorReason, **metadata: str) -> None:
        super().__init__(message, reason=reason.value, **metadata)


class SignatureReason(StrEnum):
    """Why a webhook's origin could not be verified."""

    SIGNATURE_MISSING = "SIGNATURE_MISSING"
    SIGNATURE_MISMATCH = "SIGNATURE_MISMATCH"
    SECRET_NOT_CONFIGURED = "SECRET_NOT_CONFIGURED"
    KEY_URL_REJECTED = "KEY_URL_REJECTED"  # ConnectWise key_url not on the tenant's allow-list
    KEY_FETCH_FAILED = "KEY_FETCH_FAILED"  # the key server answered, but not with a key


class SignatureError(Unauthenticated):
    """The webhook is not provably from the tenant's PSA (HTTP 401 / UNAUTHENTICATED)."""

    reason = SignatureReason.SIGNATURE_MISMATCH.value

    def __init__(self, message: str, *, reason: SignatureReason, **metadata: str) -> None:
        super().__init__(message, reason=reason.value, **metadata)


class SigningKeyUnavailable(Unavailable):
    """The ConnectWise key server could not be reached (or answered 5xx): retry later (503)."""

    reason = "SIGNING_KEY_UNAVAILABLE"
