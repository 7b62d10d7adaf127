"""Webhook signatures (README test vectors), the ConnectWise key-URL allow-list and key fetch.

The key fetch runs against the ``cw_key_server`` fixture (tests/connectors/conftest.py): a real
local HTTP server standing in for ConnectWise's callback-key endpoint (plain HTTP on 127.0.0.1,
hence ``schemes=("http",)``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
import pytest

from connectors.errors import SignatureError, SignatureReason, SigningKeyUnavailable
from connectors.signatures import (
    SigningKeyCache,
    fetch_connectwise_signing_key,
    key_url_allowed,
    verify_autotask,
    verify_connectwise,
    verify_connectwise_callback,
    verify_kaseya_bms,
)

if TYPE_CHECKING:
    from conftest import KeyServer

AUTOTASK_VECTOR = "sha1=a9TcNDp2WWx4p5+XE5nJ/T52Biw="
CONNECTWISE_VECTOR = "APjqktFomRjdPvFfBMi+kMMW0LkkD/AcPFY3LOZCBSQ="
CW_BODY = "connectwise_callback_ticket_deleted.raw_body.txt"
AT_BODY = "autotask_webhook_ticket_create.raw_body.txt"


def _reason(err: pytest.ExceptionInfo[SignatureError]) -> str:
    assert err.value.http_status == 401
    return err.value.reason


def test_autotask_reference_vector(psa_raw: Callable[[str], bytes]) -> None:
    raw = psa_raw(AT_BODY)
    verify_autotask(raw, AUTOTASK_VECTOR, "test-secret-key")
    verify_autotask(raw, AUTOTASK_VECTOR.removeprefix("sha1="), "test-secret-key")
    verify_autotask(raw, " SHA1=" + AUTOTASK_VECTOR[5:], "test-secret-key")


@pytest.mark.parametrize(
    ("mutate", "header", "secret", "reason"),
    [
        (
            lambda b: b.replace(b"351181", b"351182"),
            AUTOTASK_VECTOR,
            "test-secret-key",
            "SIGNATURE_MISMATCH",
        ),
        (lambda b: b + b"\n", AUTOTASK_VECTOR, "test-secret-key", "SIGNATURE_MISMATCH"),
        (lambda b: b, AUTOTASK_VECTOR, "wrong-secret-key", "SIGNATURE_MISMATCH"),
        (lambda b: b, "sha1=AAAA", "test-secret-key", "SIGNATURE_MISMATCH"),
        (
            lambda b: b,
            "sha1=a9TcNDp2WWx4p5+XE5nJ/T52Biw=\u00e9",
            "test-secret-key",
            "SIGNATURE_MISMATCH",
        ),
        (lambda b: b, None, "test-secret-key", "SIGNATURE_MISSING"),
        (lambda b: b, "  ", "test-secret-key", "SIGNATURE_MISSING"),
        (lambda b: b, AUTOTASK_VECTOR, "", "SECRET_NOT_CONFIGURED"),
    ],
)
def test_autotask_refusals(
    psa_raw: Callable[[str], bytes],
    mutate: Callable[[bytes], bytes],
    header: str | None,
    secret: str,
    reason: str,
) -> None:
    with pytest.raises(SignatureError) as err:
        verify_autotask(mutate(psa_raw(AT_BODY)), header, secret)
    assert _reason(err) == reason


def test_autotask_reserialised_json_does_not_verify(psa_raw: Callable[[str], bytes]) -> None:
    pretty = json.dumps(json.loads(psa_raw(AT_BODY)), indent=2).encode()
    with pytest.raises(SignatureError):
        verify_autotask(pretty, AUTOTASK_VECTOR, "test-secret-key")


def test_connectwise_reference_vector(psa_raw: Callable[[str], bytes]) -> None:
    verify_connectwise(psa_raw(CW_BODY), CONNECTWISE_VECTOR, "test-signing-key")


@pytest.mark.parametrize(
    ("mutate", "header", "key", "reason"),
    [
        (
            lambda b: b.replace(b'"ID":69', b'"ID":70'),
            CONNECTWISE_VECTOR,
            "test-signing-key",
            "SIGNATURE_MISMATCH",
        ),
        (lambda b: b, CONNECTWISE_VECTOR, "other-key", "SIGNATURE_MISMATCH"),
        (lambda b: b, None, "test-signing-key", "SIGNATURE_MISSING"),
        (lambda b: b, CONNECTWISE_VECTOR, "", "SECRET_NOT_CONFIGURED"),
    ],
)
def test_connectwise_refusals(
    psa_raw: Callable[[str], bytes],
    mutate: Callable[[bytes], bytes],
    header: str | None,
    key: str,
    reason: str,
) -> None:
    with pytest.raises(SignatureError) as err:
        verify_connectwise(mutate(psa_raw(CW_BODY)), header, key)
    assert _reason(err) == reason


BMS_BODY = b'{"EventName":"Ticket Created","TicketId":48213}'
BMS_MAC = hmac.new(b"bms-secret", BMS_BODY, hashlib.sha256).digest()


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Kaseya-Signature": BMS_MAC.hex()},
        {"x-kaseya-signature": BMS_MAC.hex().upper()},
        {"X-Kaseya-Signature": "sha256=" + BMS_MAC.hex()},
        {"X-Kaseya-Signature": base64.b64encode(BMS_MAC).decode()},
        {"X-KASEYA-SECRET": "bms-secret"},
        {"X-Kaseya-Signature": BMS_MAC.hex(), "X-Kaseya-Secret": "bms-secret"},
    ],
)
def test_kaseya_bms_accepts_either_scheme(headers: dict[str, str]) -> None:
    verify_kaseya_bms(BMS_BODY, headers, "bms-secret")


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        (BMS_BODY + b" ", {"X-Kaseya-Signature": BMS_MAC.hex()}, "SIGNATURE_MISMATCH"),
        (BMS_BODY, {"X-Kaseya-Secret": "bms-secreT"}, "SIGNATURE_MISMATCH"),
        (
            BMS_BODY,
            {"X-Kaseya-Signature": BMS_MAC.hex(), "X-Kaseya-Secret": "nope"},
            "SIGNATURE_MISMATCH",
        ),
        (
            BMS_BODY,
            {"X-Kaseya-Signature": "zz", "X-Kaseya-Secret": "bms-secret"},
            "SIGNATURE_MISMATCH",
        ),
        (BMS_BODY, {"Content-Type": "application/json"}, "SIGNATURE_MISSING"),
    ],
)
def test_kaseya_bms_refusals(body: bytes, headers: dict[str, str], reason: str) -> None:
    with pytest.raises(SignatureError) as err:
        verify_kaseya_bms(body, headers, "bms-secret")
    assert _reason(err) == reason


CW_HOSTS = ("*.myconnectwise.net", "cw.example-msp.example", "onprem.example:8443")


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://api-na.myconnectwise.net/v4_6_release/system/callbackkey/index.rails?id=1", True),
        ("https://API-NA.MyConnectWise.net./x", True),
        ("https://api-na.myconnectwise.net:443/x", True),
        ("https://cw.example-msp.example/key", True),
        ("https://onprem.example:8443/key", True),
        ("http://api-na.myconnectwise.net/x", False),  # not https
        ("https://myconnectwise.net/x", False),  # the wildcard wants a sub-domain
        ("https://evilmyconnectwise.net/x", False),
        ("https://api-na.myconnectwise.net.evil.example/x", False),
        ("https://user:pw@api-na.myconnectwise.net/x", False),  # user-info
        ("https://evil.example\\@api-na.myconnectwise.net/x", False),
        ("https://api-na.myconnectwise.net:8443/x", False),  # port not listed
        ("https://onprem.example/key", False),  # the entry names port 8443 only
        ("https://sub.cw.example-msp.example/key", False),  # exact entries are exact
        ("https://api-na.myconnectwise.net:99999/x", False),
        ("ftp://api-na.myconnectwise.net/x", False),
        ("not a url", False),
        ("", False),
    ],
)
def test_key_url_allow_list(url: str, allowed: bool) -> None:
    assert key_url_allowed(url, CW_HOSTS) is allowed


def test_key_url_refused_without_configured_hosts() -> None:
    assert not key_url_allowed("https://api-na.myconnectwise.net/x", ())


async def test_fetch_signing_key_from_an_allowed_host(cw_key_server: KeyServer) -> None:
    server = cw_key_server
    async with httpx.AsyncClient() as http:
        server.serve_key("/callbackkey?id=1", "test-signing-key")
        key = await fetch_connectwise_signing_key(
            server.url("/callbackkey?id=1"),
            client_id="client-123",
            allowed_hosts=[server.host],
            http=http,
            schemes=("http",),
        )
        assert key == "test-signing-key"
        assert server.requests[0][1]["clientid"] == "client-123"


async def test_fetch_refuses_a_host_not_configured_without_any_request(
    cw_key_server: KeyServer,
) -> None:
    server = cw_key_server
    async with httpx.AsyncClient() as http:
        server.serve_key("/k", "attacker-key")
        with pytest.raises(SignatureError) as err:
            await fetch_connectwise_signing_key(
                server.url("/k"),
                client_id="c",
                allowed_hosts=["*.myconnectwise.net"],
                http=http,
                schemes=("http",),
            )
        assert _reason(err) == SignatureReason.KEY_URL_REJECTED
        assert server.requests == []
        with pytest.raises(SignatureError):  # https-only by default
            await fetch_connectwise_signing_key(
                server.url("/k"), client_id="c", allowed_hosts=[server.host], http=http
            )
        assert server.requests == []


async def test_fetch_failures_are_unavailable_or_refused(cw_key_server: KeyServer) -> None:
    server = cw_key_server
    async with httpx.AsyncClient() as http:
        server.routes["/down"] = (503, b"{}")
        server.routes["/nokey"] = (200, b'{"something": "else"}')
        server.routes["/redirect"] = (302, b"")
        kwargs = {
            "client_id": "c",
            "allowed_hosts": [server.host],
            "http": http,
            "schemes": ("http",),
        }
        with pytest.raises(SigningKeyUnavailable) as down:
            await fetch_connectwise_signing_key(server.url("/down"), **kwargs)  # type: ignore[arg-type]
        assert down.value.http_status == 503
        for path in ("/nokey", "/redirect", "/missing"):
            with pytest.raises(SignatureError) as err:
                await fetch_connectwise_signing_key(server.url(path), **kwargs)  # type: ignore[arg-type]
            assert _reason(err) == SignatureReason.KEY_FETCH_FAILED


async def test_fetch_connection_refused_is_retryable() -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with httpx.AsyncClient() as http:
        with pytest.raises(SigningKeyUnavailable):
            await fetch_connectwise_signing_key(
                f"http://127.0.0.1:{port}/k",
                client_id="c",
                allowed_hosts=[f"127.0.0.1:{port}"],
                http=http,
                schemes=("http",),
            )


def test_signing_key_cache_expires_and_evicts() -> None:
    now = [0.0]
    cache = SigningKeyCache(ttl_s=10, max_entries=2, clock=lambda: now[0])
    cache.put("a", "ka")
    cache.put("b", "kb")
    assert cache.get("a") == "ka"  # "a" becomes most recently used
    cache.put("c", "kc")  # evicts "b"
    assert cache.get("b") is None and cache.get("c") == "kc"
    now[0] = 10.0
    assert cache.get("a") is None  # expired
    cache.put("a", "ka2")
    cache.invalidate("a")
    assert cache.get("a") is None


async def test_callback_verification_fetches_caches_and_refetches_on_rotation(
    psa_raw: Callable[[str], bytes], cw_key_server: KeyServer
) -> None:
    server = cw_key_server
    raw = psa_raw(CW_BODY)
    now = [0.0]
    cache = SigningKeyCache(clock=lambda: now[0])
    async with httpx.AsyncClient() as http:
        key_url = server.url("/callbackkey?id=9")
        doc = json.loads(raw) | {"Metadata": {"key_url": key_url}}
        server.serve_key("/callbackkey?id=9", "test-signing-key")

        async def verify(header: str | None) -> None:
            await verify_connectwise_callback(
                raw,
                header,
                doc,
                signing_key=None,
                client_id="c",
                allowed_hosts=[server.host],
                http=http,
                cache=cache,
                schemes=("http",),
            )

        await verify(CONNECTWISE_VECTOR)
        await verify(CONNECTWISE_VECTOR)
        assert len(server.requests) == 1  # cached
        # A bad signature soon after a fetch does not hit the key server again.
        with pytest.raises(SignatureError):
            await verify("bad")
        assert len(server.requests) == 1
        # After min_refetch_s a mismatch refetches once (the key may have rotated).
        now[0] = 120.0
        rotated = base64.b64encode(
            hmac.new(hashlib.sha256(b"rotated").digest(), raw, hashlib.sha256).digest()
        ).decode()
        server.serve_key("/callbackkey?id=9", "rotated")
        await verify(rotated)
        assert len(server.requests) == 2
        with pytest.raises(SignatureError) as missing:
            await verify(None)
        assert _reason(missing) == SignatureReason.SIGNATURE_MISSING


async def test_callback_verification_prefers_the_configured_key(
    psa_raw: Callable[[str], bytes],
) -> None:
    raw = psa_raw(CW_BODY)
    async with httpx.AsyncClient() as http:
        await verify_connectwise_callback(
            raw,
            CONNECTWISE_VECTOR,
            json.loads(raw),
            signing_key="test-signing-key",
            client_id="c",
            allowed_hosts=(),
            http=http,
            cache=SigningKeyCache(),
        )
        with pytest.raises(SignatureError) as err:  # no key configured, host not allowed
            await verify_connectwise_callback(
                raw,
                CONNECTWISE_VECTOR,
                json.loads(raw),
                signing_key=None,
                client_id="c",
                allowed_hosts=(),
                http=http,
                cache=SigningKeyCache(),
            )
        assert _reason(err) == SignatureReason.KEY_URL_REJECTED
