"""Confirmation tokens: signed, bound to tenant/technician, single use, expiring (no MCP)."""

from __future__ import annotations

import pytest

from mcp_servers.shadow.confirm import ConfirmationError, ConfirmationTokens
from mcp_servers.tokens import Caller

ALICE, CAROL, OTHER = (
    Caller("default", "alice"),
    Caller("default", "carol"),
    Caller("other", "alice"),
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def reason(exc: pytest.ExceptionInfo[ConfirmationError]) -> str:
    return exc.value.reason


def test_a_token_redeems_once_for_the_technician_it_was_issued_to() -> None:
    tokens = ConfirmationTokens(b"s" * 32)
    token, pending = tokens.issue(ALICE, "tkt_1", "resolve", {"note": "done"})
    got = tokens.redeem(ALICE, token)
    assert (got.ticket_id, got.action, got.params, got.nonce) == (
        "tkt_1",
        "resolve",
        {"note": "done"},
        pending.nonce,
    )
    with pytest.raises(ConfirmationError) as exc:
        tokens.redeem(ALICE, token)
    assert reason(exc) == "FAILED_PRECONDITION"


@pytest.mark.parametrize("caller", [CAROL, OTHER])
def test_another_technician_or_tenant_cannot_redeem(caller: Caller) -> None:
    tokens = ConfirmationTokens(b"s" * 32)
    token, _ = tokens.issue(ALICE, "tkt_1", "resolve", {})
    with pytest.raises(ConfirmationError) as exc:
        tokens.redeem(caller, token)
    assert reason(exc) == "PERMISSION_DENIED"
    assert tokens.redeem(ALICE, token).ticket_id == "tkt_1"  # a refused attempt does not consume it


def test_forged_malformed_and_foreign_key_tokens_are_refused() -> None:
    tokens = ConfirmationTokens(b"s" * 32)
    token, _ = tokens.issue(ALICE, "tkt_1", "resolve", {})
    body, sig = token.split(".")
    with pytest.raises(ConfirmationError) as exc:
        tokens.redeem(ALICE, f"{body}.{sig[:-2]}AA")
    assert reason(exc) == "PERMISSION_DENIED"
    with pytest.raises(ConfirmationError) as exc:
        tokens.redeem(ALICE, "garbage")
    assert reason(exc) == "INVALID_ARGUMENT"
    with pytest.raises(ConfirmationError) as exc:
        ConfirmationTokens(b"t" * 32).redeem(ALICE, token)
    assert reason(exc) == "PERMISSION_DENIED"


def test_a_replica_with_the_same_key_honours_the_token() -> None:
    token, _ = ConfirmationTokens(b"s" * 32).issue(ALICE, "tkt_1", "resolve", {})
    assert ConfirmationTokens(b"s" * 32).redeem(ALICE, token).ticket_id == "tkt_1"


def test_tokens_expire_and_a_released_token_is_usable_again() -> None:
    clock = Clock()
    tokens = ConfirmationTokens(b"s" * 32, ttl_s=60, clock=clock)
    token, _ = tokens.issue(ALICE, "tkt_1", "resolve", {})
    pending = tokens.redeem(ALICE, token)
    tokens.release(pending)
    assert tokens.redeem(ALICE, token).nonce == pending.nonce
    late, _ = tokens.issue(ALICE, "tkt_2", "resolve", {})
    clock.now += 61
    with pytest.raises(ConfirmationError) as exc:
        tokens.redeem(ALICE, late)
    assert reason(exc) == "FAILED_PRECONDITION"


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError):
        ConfirmationTokens(b"short")
