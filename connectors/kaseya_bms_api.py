"""Async client for the parts of the Kaseya BMS v2 REST API that the ticket poller needs.

Wire facts (see ../shared/reference/psa/README.md §1 and docs/kaseya-connector.md):

* ``POST /v2/security/authenticate`` (form-urlencoded ``GrantType=password``, ``UserName``,
  ``Password``, ``Tenant`` = the BMS company) answers ``Result{AccessToken, RefreshToken,
  AccessTokenExpireOn, RefreshTokenExpireOn}``; ``POST /v2/security/refreshtoken`` takes
  ``AccessToken`` + ``RefreshToken``. Every other call sends ``Authorization: Bearer <JWT>``.
* Every answer is an envelope ``{Success, Error{Code, Message}, Result, TotalRecords}``; a request
  can fail with HTTP 200 and ``Success: false``. Key casing on the wire is uncertain (the spec
  shows PascalCase, a real client reads camelCase), so every key is read case-insensitively.
* 1500 requests per hour per endpoint; no rate-limit headers are documented. The client paces
  itself per endpoint and backs off on 429; 5xx and transport errors are retried with jitter.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from federation.errors import OmegaError

log = logging.getLogger(__name__)

AUTHENTICATE_PATH = "/v2/security/authenticate"
REFRESH_PATH = "/v2/security/refreshtoken"
SEARCH_TICKETS_PATH = "/v2/servicedesk/tickets/search"
TICKET_PATH = "/v2/servicedesk/tickets/{ticket_id}"

USER_AGENT = "omega-kaseya-bms-connector/0.1"
# A 429's Retry-After is honoured up to this long (the limit is counted per hour).
MAX_RETRY_AFTER_S = 3600.0
# BMS answers Success:false with codes like these when the bearer token is no longer valid
# (UNCONFIRMED: only HTTP 401 is documented); such an answer triggers one re-authentication.
_AUTH_ERROR_CODES = frozenset(
    {"401", "unauthorized", "unauthenticated", "invalidtoken", "tokenexpired"}
)


class KaseyaBmsSettings(BaseSettings):
    """Configuration of the Kaseya BMS connector (env vars ``OMEGA_KASEYA_BMS_*``)."""

    model_config = SettingsConfigDict(env_prefix="OMEGA_KASEYA_BMS_", frozen=True, extra="ignore")

    base_url: str = "https://api.bms.kaseya.com"
    username: str = ""
    password: SecretStr = SecretStr("")
    # The BMS company name given at login ("Tenant" form field).
    tenant: str = ""
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    # The OMEGA tenant the tickets belong to; empty means the server's default tenant.
    omega_tenant: str = ""
    poll_interval_s: float = Field(default=60.0, gt=0)
    page_size: int = Field(default=100, ge=1, le=1000)
    # Cursor file; None means $OMEGA_DATA_DIR/kaseya-bms-state.json (resolved by the CLI).
    state_file: Path | None = None
    # The ticket field the cursor follows, the search filter that bounds it from below, and
    # the sort that orders it (the sort syntax is UNCONFIRMED; "" omits Sort).
    cursor_field: str = "LastActivityUpdate"
    cursor_filter: str = "LastActivityUpdateFrom"
    sort: str = "LastActivityUpdate asc"
    # How far below the high-water mark each search starts (covers an exclusive or
    # second-truncating filter); tickets seen inside this window are remembered and skipped.
    overlap_s: float = Field(default=1.0, ge=0)
    # First run without a cursor: look back this many days (0 = the whole history).
    initial_lookback_days: float = Field(default=7.0, ge=0)
    # GET each ticket (TicketOutputDto: CCs, contact e-mail) instead of sending the list row.
    fetch_full_ticket: bool = False
    ingest_concurrency: int = Field(default=8, ge=1, le=64)
    request_timeout_s: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    backoff_s: float = Field(default=1.0, ge=0)
    backoff_max_s: float = Field(default=60.0, ge=0)
    # First wait after a 429 without Retry-After (doubles per attempt, capped by backoff_max_s).
    rate_limit_backoff_s: float = Field(default=30.0, ge=0)
    # Client-side pacing per endpoint (BMS allows 1500/h); 0 disables it.
    rate_limit_per_hour: int = Field(default=1500, ge=0)
    rate_limit_burst: int = Field(default=30, ge=1)
    # Refresh the access token this long before AccessTokenExpireOn.
    token_refresh_skew_s: float = Field(default=120.0, ge=0)


# ---- errors -------------------------------------------------------------------------------------
class BmsApiError(OmegaError):
    """A Kaseya BMS call failed. ``upstream_status`` is the HTTP status, when there was one."""

    code = grpc.StatusCode.UNAVAILABLE
    http_status = 502
    reason = "BMS_API_ERROR"

    def __init__(
        self,
        message: str,
        *,
        endpoint: str = "",
        upstream_status: int | None = None,
        bms_code: str = "",
        reason: str | None = None,
    ) -> None:
        meta = {"endpoint": endpoint, "bms_code": bms_code}
        if upstream_status is not None:
            meta["upstream_status"] = str(upstream_status)
        super().__init__(message, reason=reason, **meta)
        self.endpoint = endpoint
        self.upstream_status = upstream_status
        self.bms_code = bms_code


class BmsAuthError(BmsApiError):
    """Credentials refused, token not accepted after re-authenticating, or access denied."""

    code = grpc.StatusCode.UNAUTHENTICATED
    http_status = 401
    reason = "BMS_AUTH_FAILED"


class BmsRateLimited(BmsApiError):
    """BMS kept answering 429 after backing off."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_status = 429
    reason = "BMS_RATE_LIMITED"


class BmsUnavailable(BmsApiError):
    """5xx answers or transport errors persisted through every retry."""

    code = grpc.StatusCode.UNAVAILABLE
    http_status = 503
    reason = "BMS_UNAVAILABLE"


class BmsRequestFailed(BmsApiError):
    """BMS refused the request: ``Success: false`` (often with HTTP 200) or another 4xx."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    http_status = 502
    reason = "BMS_REQUEST_FAILED"


class BmsProtocolError(BmsApiError):
    """The answer was not the documented envelope (not JSON, no Result, wrong types)."""

    code = grpc.StatusCode.INTERNAL
    http_status = 502
    reason = "BMS_BAD_RESPONSE"


# ---- envelope and keys --------------------------------------------------------------------------
def ci_get(obj: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """``obj[name]`` with the key matched case-insensitively (exact match preferred)."""
    if name in obj:
        return obj[name]
    low = name.lower()
    for key, value in obj.items():
        if isinstance(key, str) and key.lower() == low:
            return value
    return default


@dataclass(frozen=True)
class Envelope:
    """A BMS answer: ``{Success, Error{Code, Message}, Result, TotalRecords}``."""

    success: bool
    result: Any
    total_records: int | None = None
    error_code: str = ""
    error_message: str = ""


def parse_envelope(doc: Any, *, endpoint: str = "") -> Envelope:
    """Read an envelope with case-insensitive keys; a missing ``Success`` means "no Error"."""
    if not isinstance(doc, Mapping):
        raise BmsProtocolError("BMS answered JSON that is not an object", endpoint=endpoint)
    error = ci_get(doc, "Error")
    code, message = "", ""
    if isinstance(error, Mapping):
        code = str(ci_get(error, "Code") or "")
        message = str(ci_get(error, "Message") or "")
    elif error not in (None, "", "None"):
        message = str(error)
    success = ci_get(doc, "Success")
    if success is None:
        success = not (code or message)
    total = ci_get(doc, "TotalRecords")
    return Envelope(
        success=bool(success),
        result=ci_get(doc, "Result"),
        total_records=total if isinstance(total, int) and not isinstance(total, bool) else None,
        error_code=code,
        error_message=message[:500],
    )


def parse_bms_time(value: str) -> datetime:
    """Parse a BMS date-time; a naive value (no offset, as BMS usually sends) is taken as UTC."""
    dt = datetime.fromisoformat(value.strip())
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass(frozen=True)
class TicketPage:
    """One page of ``POST /v2/servicedesk/tickets/search``."""

    tickets: list[dict[str, Any]]
    page_number: int
    page_size: int
    total_records: int | None


@dataclass
class _Token:
    access: str
    refresh: str
    expires_at: datetime | None  # None: unknown or implausible, rely on 401


# ---- pacing -------------------------------------------------------------------------------------
class EndpointRateLimiter:
    """A token bucket per endpoint: BMS allows ``per_hour`` requests per endpoint per hour."""

    def __init__(
        self,
        per_hour: int,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._rate = per_hour / 3600.0
        self._burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[str, tuple[float, float]] = {}

    async def acquire(self, endpoint: str) -> None:
        if self._rate <= 0:
            return
        while True:
            now = self._clock()
            tokens, last = self._buckets.get(endpoint, (self._burst, now))
            tokens = min(self._burst, tokens + (now - last) * self._rate)
            if tokens >= 1.0:
                self._buckets[endpoint] = (tokens - 1.0, now)
                return
            self._buckets[endpoint] = (tokens, now)
            wait = (1.0 - tokens) / self._rate
            log.debug("pacing %s for %.1fs (rate limit)", endpoint, wait)
            await self._sleep(wait)


# ---- client -------------------------------------------------------------------------------------
class KaseyaBmsApi:
    """Async BMS v2 client: token lifecycle, envelope, retries, pacing. ``async with`` it."""

    def __init__(
        self,
        settings: KaseyaBmsSettings,
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._settings = settings
        self._base = settings.base_url.rstrip("/")
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            timeout=settings.request_timeout_s, follow_redirects=False
        )
        self._clock = clock or (lambda: datetime.now(UTC))
        self._sleep = sleep
        self._limiter = EndpointRateLimiter(
            settings.rate_limit_per_hour, settings.rate_limit_burst, sleep=sleep
        )
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()
        # Counters, for logs and tests.
        self.authentications = 0
        self.refreshes = 0

    async def __aenter__(self) -> KaseyaBmsApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # ---- tokens ---------------------------------------------------------------------------
    async def authenticate(self) -> None:
        """Get a fresh token pair with the configured credentials."""
        async with self._token_lock:
            await self._authenticate_locked()

    async def refresh(self) -> None:
        """Exchange the refresh token for a new pair; falls back to authenticating."""
        async with self._token_lock:
            await self._refresh_locked()

    async def _authenticate_locked(self) -> None:
        s = self._settings
        form = {
            "GrantType": "password",
            "UserName": s.username,
            "Password": s.password.get_secret_value(),
            "Tenant": s.tenant,
        }
        if s.client_id:
            form["ClientId"] = s.client_id
        if s.client_secret.get_secret_value():
            form["ClientSecret"] = s.client_secret.get_secret_value()
        env = await self._send("POST", AUTHENTICATE_PATH, "authenticate", form=form, auth=False)
        self._token = self._read_token(env, AUTHENTICATE_PATH)
        self.authentications += 1
        log.info("authenticated to Kaseya BMS at %s", self._base)

    async def _refresh_locked(self) -> None:
        token = self._token
        if token is None or not token.refresh:
            await self._authenticate_locked()
            return
        form = {"AccessToken": token.access, "RefreshToken": token.refresh}
        try:
            env = await self._send("POST", REFRESH_PATH, "refreshtoken", form=form, auth=False)
            self._token = self._read_token(env, REFRESH_PATH)
        except (BmsAuthError, BmsRequestFailed, BmsProtocolError) as exc:
            log.info("token refresh refused (%s); authenticating again", exc.reason)
            await self._authenticate_locked()
            return
        self.refreshes += 1
        log.debug("refreshed the Kaseya BMS access token")

    def _read_token(self, env: Envelope, endpoint: str) -> _Token:
        result = env.result if isinstance(env.result, Mapping) else {}
        access = ci_get(result, "AccessToken")
        if not isinstance(access, str) or not access:
            raise BmsProtocolError("BMS answered without an access token", endpoint=endpoint)
        refresh = ci_get(result, "RefreshToken")
        expires_at: datetime | None = None
        raw_exp = ci_get(result, "AccessTokenExpireOn")
        if isinstance(raw_exp, str) and raw_exp:
            try:
                expires_at = parse_bms_time(raw_exp)
            except ValueError:
                expires_at = None
        skew = timedelta(seconds=self._settings.token_refresh_skew_s)
        if expires_at is not None and expires_at - skew <= self._clock():
            # An expiry already inside the skew (clock or time-zone mismatch) would refresh
            # before every call; rely on 401 instead.
            log.warning("BMS token expiry is implausibly close; refreshing on 401 only")
            expires_at = None
        return _Token(access, refresh if isinstance(refresh, str) else "", expires_at)

    async def _access_token(self) -> str:
        async with self._token_lock:
            if self._token is None:
                await self._authenticate_locked()
            else:
                exp = self._token.expires_at
                skew = timedelta(seconds=self._settings.token_refresh_skew_s)
                if exp is not None and self._clock() >= exp - skew:
                    await self._refresh_locked()
            assert self._token is not None
            return self._token.access

    async def _reauthenticate(self, stale_access: str) -> None:
        async with self._token_lock:
            if self._token is not None and self._token.access != stale_access:
                return  # another call already replaced the token
            self._token = None
            await self._authenticate_locked()

    # ---- calls ----------------------------------------------------------------------------
    async def search_tickets(
        self,
        modified_since: str | datetime | None,
        page_number: int = 1,
        page_size: int | None = None,
    ) -> TicketPage:
        """One page of tickets modified at or after ``modified_since``, oldest first."""
        s = self._settings
        size = page_size or s.page_size
        body: dict[str, Any] = {"PageNumber": page_number, "PageSize": size}
        if s.sort:
            body["Sort"] = s.sort
        if modified_since is not None:
            since = (
                modified_since.isoformat().replace("+00:00", "Z")
                if isinstance(modified_since, datetime)
                else modified_since
            )
            body["Filter"] = {s.cursor_filter: since}
        env = await self._call("POST", SEARCH_TICKETS_PATH, "tickets/search", json=body)
        result = env.result if env.result is not None else []
        if not isinstance(result, list) or not all(isinstance(t, dict) for t in result):
            raise BmsProtocolError(
                "ticket search Result is not a list of objects", endpoint=SEARCH_TICKETS_PATH
            )
        return TicketPage(result, page_number, size, env.total_records)

    async def get_ticket(self, ticket_id: int | str) -> dict[str, Any]:
        """The full ticket (``TicketOutputDto``)."""
        path = TICKET_PATH.format(ticket_id=ticket_id)
        env = await self._call("GET", path, "tickets/{id}")
        if not isinstance(env.result, dict):
            raise BmsProtocolError("ticket Result is not an object", endpoint=TICKET_PATH)
        return env.result

    async def _call(self, method: str, path: str, endpoint: str, *, json: Any = None) -> Envelope:
        """An authenticated call; a 401 (or an auth-like Success:false) re-authenticates once."""
        access = await self._access_token()
        try:
            return await self._send(method, path, endpoint, json=json, bearer=access)
        except BmsAuthError as exc:
            if exc.upstream_status == 403:
                raise
            log.info("BMS refused the access token on %s; authenticating again", endpoint)
        await self._reauthenticate(access)
        access = await self._access_token()
        return await self._send(method, path, endpoint, json=json, bearer=access)

    def _backoff(self, attempt: int, base: float) -> float:
        delay = min(self._settings.backoff_max_s, base * 2.0**attempt)
        return delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto

    async def _send(
        self,
        method: str,
        path: str,
        endpoint: str,
        *,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        bearer: str | None = None,
        auth: bool = True,
    ) -> Envelope:
        """One logical request with retries on 429, 5xx and transport errors."""
        s = self._settings
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        attempt = 0
        while True:
            await self._limiter.acquire(f"{method} {endpoint}")
            try:
                resp = await self._http.request(
                    method, self._base + path, headers=headers, json=json, data=form
                )
            except httpx.TransportError as exc:
                attempt += 1
                if attempt >= s.max_attempts:
                    raise BmsUnavailable(
                        f"BMS unreachable on {endpoint}: {type(exc).__name__}", endpoint=path
                    ) from exc
                delay = self._backoff(attempt - 1, s.backoff_s)
                log.warning(
                    "BMS %s transport error %s; retry in %.2fs", endpoint, type(exc).__name__, delay
                )
                await self._sleep(delay)
                continue
            status = resp.status_code
            if status == 429:
                attempt += 1
                if attempt >= s.max_attempts:
                    raise BmsRateLimited(
                        f"BMS rate limit on {endpoint} persisted",
                        endpoint=path,
                        upstream_status=429,
                    )
                hinted = _retry_after(resp)
                delay = (
                    min(hinted, MAX_RETRY_AFTER_S)
                    if hinted is not None
                    else self._backoff(attempt - 1, s.rate_limit_backoff_s)
                )
                log.warning("BMS rate limit (429) on %s; waiting %.2fs", endpoint, delay)
                await self._sleep(delay)
                continue
            if status >= 500:
                attempt += 1
                if attempt >= s.max_attempts:
                    raise BmsUnavailable(
                        f"BMS answered {status} on {endpoint}",
                        endpoint=path,
                        upstream_status=status,
                    )
                delay = self._backoff(attempt - 1, s.backoff_s)
                log.warning("BMS answered %s on %s; retry in %.2fs", status, endpoint, delay)
                await self._sleep(delay)
                continue
            return self._envelope_of(resp, path, endpoint, auth=auth)

    def _envelope_of(
        self, resp: httpx.Response, path: str, endpoint: str, *, auth: bool
    ) -> Envelope:
        status = resp.status_code
        try:
            doc = resp.json()
        except ValueError:
            doc = None
        env = parse_envelope(doc, endpoint=path) if isinstance(doc, Mapping) else None
        detail = f": {env.error_message}" if env and env.error_message else ""
        bms_code = env.error_code if env else ""
        if status in (401, 403) or (
            env is not None
            and not env.success
            and not auth
            and path in (AUTHENTICATE_PATH, REFRESH_PATH)
        ):
            what = "refused the credentials" if not auth else f"answered {status}"
            raise BmsAuthError(
                f"BMS {what} on {endpoint}{detail}",
                endpoint=path,
                upstream_status=status,
                bms_code=bms_code,
            )
        if not 200 <= status < 300:
            raise BmsRequestFailed(
                f"BMS answered {status} on {endpoint}{detail}",
                endpoint=path,
                upstream_status=status,
                bms_code=bms_code,
            )
        if env is None:
            raise BmsProtocolError(
                f"BMS answered {status} on {endpoint} without a JSON envelope",
                endpoint=path,
                upstream_status=status,
            )
        if not env.success:
            if auth and bms_code.replace("_", "").lower() in _AUTH_ERROR_CODES:
                raise BmsAuthError(
                    f"BMS refused the token on {endpoint}{detail}",
                    endpoint=path,
                    upstream_status=status,
                    bms_code=bms_code,
                )
            raise BmsRequestFailed(
                f"BMS answered Success:false on {endpoint}"
                f"{f' (code {bms_code})' if bms_code else ''}{detail}",
                endpoint=path,
                upstream_status=status,
                bms_code=bms_code,
            )
        return env


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP-date; use our own backoff
