"""Two-step actions: propose_action returns a signed, single-use token; confirm_action redeems it.

Claude Desktop cannot show an elicitation prompt, so a change happens only when the caller
sends back the token it was shown. The token is HMAC-signed (every replica shares the key from
the tokens file), bound to tenant, technician, ticket, action and its arguments, and expires.
Single use: each replica remembers redeemed nonces, and OMEGA's ticket state machine refuses a
second application of the same action on any replica (the action's precondition no longer holds).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError

from mcp_servers.tokens import Caller

MAX_REMEMBERED = 10_000


class ConfirmationError(ToolError):
    """A confirmation token that is malformed, forged, expired, used, or someone else's."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


@dataclass(frozen=True)
class PendingAction:
    """What a confirmation token authorises."""

    tenant: str
    technician: str
    ticket_id: str
    action: str
    params: dict[str, Any]
    expires_at: float
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ConfirmationTokens:
    """Issues and redeems confirmation tokens."""

    def __init__(self, key: bytes, *, ttl_s: float = 600.0, clock: Any = time.time) -> None:
        if len(key) < 32:
            raise ValueError("the confirmation signing key must be at least 32 bytes")
        self._key = hashlib.sha256(b"omega-mcp-confirm\0" + key).digest()
        self._ttl_s = ttl_s
        self._clock = clock
        self._used: OrderedDict[str, float] = OrderedDict()

    def issue(
        self, caller: Caller, ticket_id: str, action: str, params: dict[str, Any]
    ) -> tuple[str, PendingAction]:
        pending = PendingAction(
            caller.tenant,
            caller.technician,
            ticket_id,
            action,
            params,
            self._clock() + self._ttl_s,
            secrets.token_urlsafe(12),
        )
        body = json.dumps(
            {
                "t": pending.tenant,
                "u": pending.technician,
                "k": ticket_id,
                "a": action,
                "p": params,
                "e": round(pending.expires_at, 3),
                "n": pending.nonce,
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        sig = hmac.new(self._key, body, hashlib.sha256).digest()
        return f"{_b64(body)}.{_b64(sig)}", pending

    def redeem(self, caller: Caller, token: str) -> PendingAction:
        """The action a token authorises for ``caller``; marks it used. Raises ConfirmationError."""
        try:
            body_b64, sig_b64 = token.strip().split(".")
            body, sig = _unb64(body_b64), _unb64(sig_b64)
        except (ValueError, TypeError):
            raise ConfirmationError("INVALID_ARGUMENT", "malformed confirmation token") from None
        expected = hmac.new(self._key, body, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, sig):
            raise ConfirmationError("PERMISSION_DENIED", "confirmation token signature is invalid")
        data = json.loads(body)
        pending = PendingAction(
            str(data["t"]),
            str(data["u"]),
            str(data["k"]),
            str(data["a"]),
            dict(data["p"]),
            float(data["e"]),
            str(data["n"]),
        )
        if (pending.tenant, pending.technician) != (caller.tenant, caller.technician):
            raise ConfirmationError(
                "PERMISSION_DENIED", "this confirmation token was issued to another technician"
            )
        now = self._clock()
        if pending.expires_at < now:
            raise ConfirmationError(
                "FAILED_PRECONDITION", "confirmation token expired; propose again"
            )
        self._forget_expired(now)
        if pending.nonce in self._used:
            raise ConfirmationError("FAILED_PRECONDITION", "confirmation token was already used")
        self._used[pending.nonce] = pending.expires_at
        return pending

    def release(self, pending: PendingAction) -> None:
        """Make a token usable again (the action failed before changing anything)."""
        self._used.pop(pending.nonce, None)

    def _forget_expired(self, now: float) -> None:
        while self._used and (
            len(self._used) > MAX_REMEMBERED or next(iter(self._used.values())) < now
        ):
            self._used.popitem(last=False)
