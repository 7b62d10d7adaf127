"""Webhook origin checks: Autotask, ConnectWise and Kaseya BMS signatures; ConnectWise key fetch.

Every check runs over the **raw request body bytes** (re-serialised JSON never matches: Autotask
escapes ``& < > ' +`` and non-ASCII as ``\\uXXXX``) and compares in constant time. Failures raise
``SignatureError`` (HTTP 401 / UNAUTHENTICATED) with a ``SignatureReason``.

* Autotask [SPEC]: ``X-Hook-Signature: sha1=<base64(HMAC-SHA1(SecretKey, body))>``.
* ConnectWise [CODE]: ``x-content-signature: base64(HMAC-SHA256(key=SHA256(signing_key), body))``;
  the signing key is configured per tenant, or fetched from the callback's ``Metadata.key_url``
  but only from hosts on the tenant's allow-list (otherwise anyone could supply their own key).
* Kaseya BMS: the header and algorithm are **UNCONFIRMED** (BMS documents only an optional
  "Secret"). We accept ``X-Kaseya-Signature`` = HMAC-SHA256(secret, body) as hex or base64
  (optionally ``sha256=``-prefixed), and/or ``X-Kaseya-Secret`` = the secret itself; at least
  one must be present and every one present must verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from connectors.connectwise import callback_key_url
from connectors.errors import SignatureError, SignatureReason, SigningKeyUnavailable
from connectors.fields import ci

log = logging.getLogger(__name__)

AUTOTASK_SIGNATURE_HEADER = "X-Hook-Signature"
CONNECTWISE_SIGNATURE_HEADER = "x-content-signature"
KASEYA_SIGNATURE_HEADER = "X-Kaseya-Signature"  # UNCONFIRMED name, see module docstring
KASEYA_SECRET_HEADER = "X-Kaseya-Secret"  # UNCONFIRMED name, see module docstring

_HOST_RE = re.compile(r"[a-z0-9.-]+|\[[0-9a-f:.]+\]")


def _require(value: str | None, what: str) -> str:
    if not value:
        raise SignatureError(
            f"{what} is not configured", reason=SignatureReason.SECRET_NOT_CONFIGURED
        )
    return value


def _equal(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def _missing(header: str) -> SignatureError:
    return SignatureError(f"missing {header} header", reason=SignatureReason.SIGNATURE_MISSING)


def _mismatch(header: str) -> SignatureError:
    return SignatureError(
        f"{header} does not match the body", reason=SignatureReason.SIGNATURE_MISMATCH
    )


def autotask_signature(raw: bytes, secret: str) -> str:
    """The ``X-Hook-Signature`` value Autotask sends for ``raw`` (``sha1=<base64>``)."""
    mac = hmac.new(secret.encode("utf-8"), raw, hashlib.sha1).digest()
    return "sha1=" + base64.b64encode(mac).decode("ascii")


def verify_autotask(raw: bytes, header: str | None, secret: str) -> None:
    """Check Autotask's ``X-Hook-Signature`` (``sha1=<base64 HMAC-SHA1>``) over ``raw``."""
    secret = _require(secret, "the Autotask webhook secret")
    if not header or not header.strip():
        raise _missing(AUTOTASK_SIGNATURE_HEADER)
    given = header.strip()
    if given[:5].lower() == "sha1=":
        given = given[5:]
    expected = autotask_signature(raw, secret)[5:]
    if not _equal(expected, given):
        raise _mismatch(AUTOTASK_SIGNATURE_HEADER)


def connectwise_signature(raw: bytes, signing_key: str) -> str:
    """The ``x-content-signature`` ConnectWise sends for ``raw``."""
    key = hashlib.sha256(signing_key.encode("utf-8")).digest()
    return base64.b64encode(hmac.new(key, raw, hashlib.sha256).digest()).decode("ascii")


def verify_connectwise(raw: bytes, header: str | None, signing_key: str) -> None:
    """Check ConnectWise's ``x-content-signature`` over ``raw`` with the callback signing key."""
    signing_key = _require(signing_key, "the ConnectWise signing key")
    if not header or not header.strip():
        raise _missing(CONNECTWISE_SIGNATURE_HEADER)
    if not _equal(connectwise_signature(raw, signing_key), header.strip()):
        raise _mismatch(CONNECTWISE_SIGNATURE_HEADER)


def kaseya_bms_signature(raw: bytes, secret: str) -> str:
    """HMAC-SHA256(secret, raw) as lower-case hex (the base64 form is also accepted)."""
    return hmac.new(secret.encode("utf-8"), raw, hashlib.sha256).hexdigest()


def verify_kaseya_bms(raw: bytes, headers: Mapping[str, str], secret: str) -> None:
    """Check a Kaseya BMS webhook (scheme UNCONFIRMED: see the module docstring)."""
    secret = _require(secret, "the Kaseya BMS webhook secret")
    h = ci(headers)
    signature = h.text(KASEYA_SIGNATURE_HEADER)
    shared = h.text(KASEYA_SECRET_HEADER)
    if not signature and not shared:
        raise _missing(f"{KASEYA_SIGNATURE_HEADER} or {KASEYA_SECRET_HEADER}")
    if signature:
        given = signature[7:] if signature[:7].lower() == "sha256=" else signature
        mac = hmac.new(secret.encode("utf-8"), raw, hashlib.sha256).digest()
        hex_ok = _equal(mac.hex(), given.lower())
        b64_ok = _equal(base64.b64encode(mac).decode("ascii"), given)
        if not (hex_ok or b64_ok):
            raise _mismatch(KASEYA_SIGNATURE_HEADER)
    if shared and not _equal(secret, shared):
        raise _mismatch(KASEYA_SECRET_HEADER)


def _split_entry(entry: str) -> tuple[str, int | None]:
    entry = entry.strip().lower().rstrip(".")
    host, sep, port = entry.rpartition(":")
    if sep and port.isdigit() and not host.endswith(":"):
        return host.rstrip("."), int(port)
    return entry, None


def key_url_allowed(
    url: str, allowed_hosts: Iterable[str], *, schemes: tuple[str, ...] = ("https",)
) -> bool:
    """True when ``url`` may be fetched for a ConnectWise signing key.

    ``https`` only (``schemes`` exists for tests against a local plain-HTTP stand-in); no
    user-info; the host equals an entry, or an entry ``*.suffix`` matches a sub-domain of
    ``suffix`` (not ``suffix`` itself); a non-default port must be named in the entry
    (``cw.example.com:8443``).
    """
    if any(c in url for c in "\\ \t\r\n"):
        return False
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if scheme not in schemes or "@" in parts.netloc:
        return False
    host = (parts.hostname or "").rstrip(".")
    if not host or not _HOST_RE.fullmatch(host):
        return False
    default_port = 443 if scheme == "https" else 80
    effective_port = None if port in (None, default_port) else port
    for entry in allowed_hosts:
        entry_host, entry_port = _split_entry(entry)
        if entry_port in (None, default_port):
            entry_port = None
        if not entry_host or entry_port != effective_port:
            continue
        if entry_host.startswith("*."):
            suffix = entry_host[1:]
            if host.endswith(suffix) and len(host) > len(suffix):
                return True
        elif host == entry_host:
            return True
    return False


async def fetch_connectwise_signing_key(
    key_url: str,
    *,
    client_id: str,
    allowed_hosts: Iterable[str],
    http: httpx.AsyncClient,
    schemes: tuple[str, ...] = ("https",),
    timeout_s: float = 5.0,
) -> str:
    """GET ``key_url`` (with the ``clientId`` header) and return its ``signing_key``.

    Refuses (``SignatureError`` KEY_URL_REJECTED) any URL ``key_url_allowed`` rejects, before
    any request; never follows redirects. Network errors, timeouts, 429 and 5xx raise
    ``SigningKeyUnavailable`` (retry later); any other non-key answer is KEY_FETCH_FAILED.
    """
    allowed = tuple(allowed_hosts)
    if not key_url_allowed(key_url, allowed, schemes=schemes):
        raise SignatureError(
            "ConnectWise key_url host is not on the tenant's allow-list",
            reason=SignatureReason.KEY_URL_REJECTED,
        )
    headers = {"clientId": client_id, "Accept": "application/json"}
    try:
        response = await http.get(
            key_url, headers=headers, follow_redirects=False, timeout=timeout_s
        )
    except httpx.HTTPError as exc:
        log.warning("ConnectWise signing key fetch failed: %s", type(exc).__name__)
        raise SigningKeyUnavailable("ConnectWise signing key server unreachable") from None
    if response.status_code == 429 or response.status_code >= 500:
        raise SigningKeyUnavailable(
            f"ConnectWise signing key server answered {response.status_code}"
        )
    body: Any = None
    if response.status_code == 200:
        try:
            body = response.json()
        except ValueError:
            body = None
    key = ci(body).text("signing_key", "signingKey") if isinstance(body, Mapping) else ""
    if not key:
        raise SignatureError(
            f"ConnectWise key server gave no signing key (HTTP {response.status_code})",
            reason=SignatureReason.KEY_FETCH_FAILED,
        )
    return key


class SigningKeyCache:
    """Fetched ConnectWise signing keys by ``key_url``, each kept ``ttl_s`` seconds (LRU-bounded)."""

    def __init__(
        self,
        *,
        ttl_s: float = 3600.0,
        max_entries: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def get(self, key_url: str) -> str | None:
        """The cached key, or None when absent or expired."""
        entry = self._entries.get(key_url)
        if entry is None:
            return None
        if self._clock() - entry[0] >= self._ttl_s:
            del self._entries[key_url]
            return None
        self._entries.move_to_end(key_url)
        return entry[1]

    def age(self, key_url: str) -> float | None:
        """Seconds since ``key_url``'s key was stored (None when absent)."""
        entry = self._entries.get(key_url)
        return None if entry is None else self._clock() - entry[0]

    def put(self, key_url: str, key: str) -> None:
        self._entries[key_url] = (self._clock(), key)
        self._entries.move_to_end(key_url)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def invalidate(self, key_url: str) -> None:
        self._entries.pop(key_url, None)


async def verify_connectwise_callback(
    raw: bytes,
    header: str | None,
    doc: Mapping[str, Any],
    *,
    signing_key: str | None,
    client_id: str,
    allowed_hosts: Iterable[str],
    http: httpx.AsyncClient,
    cache: SigningKeyCache,
    schemes: tuple[str, ...] = ("https",),
    min_refetch_s: float = 60.0,
) -> None:
    """Verify a ConnectWise callback end to end (what the webhook endpoint calls).

    With a configured ``signing_key`` it alone is used. Otherwise the key comes from the
    callback's ``Metadata.key_url`` (allow-listed hosts only) through ``cache``; on a mismatch
    with a cached key older than ``min_refetch_s`` the key is fetched once more (rotation),
    so bad signatures cannot make us hammer the key server.
    """
    if signing_key:
        verify_connectwise(raw, header, signing_key)
        return
    if not header or not header.strip():
        raise _missing(CONNECTWISE_SIGNATURE_HEADER)
    key_url = callback_key_url(doc)
    allowed = tuple(allowed_hosts)
    if not key_url or not key_url_allowed(key_url, allowed, schemes=schemes):
        raise SignatureError(
            "ConnectWise callback key_url is absent or not on the tenant's allow-list",
            reason=SignatureReason.KEY_URL_REJECTED,
        )
    cached = cache.get(key_url)
    if cached is not None:
        try:
            verify_connectwise(raw, header, cached)
            return
        except SignatureError:
            age = cache.age(key_url)
            if age is not None and age < min_refetch_s:
                raise
    key = await fetch_connectwise_signing_key(
        key_url, client_id=client_id, allowed_hosts=allowed, http=http, schemes=schemes
    )
    cache.put(key_url, key)
    verify_connectwise(raw, header, key)
