"""A local HTTP stand-in of the Kaseya BMS v2 API, for tests. It is NOT the real service.

There is no public BMS sandbox, so the connector's wire format is tested against this small
Starlette app (served by uvicorn on 127.0.0.1, port 0, in a thread). It follows the shapes in
../shared/reference/psa/ (envelope ``{Success, Error, Result, TotalRecords}``, token result,
TicketListDto rows) with invented values, and implements only what the poller uses:

* ``POST /v2/security/authenticate`` and ``POST /v2/security/refreshtoken`` (form-urlencoded);
* ``POST /v2/servicedesk/tickets/search`` (``Filter.LastActivityUpdateFrom`` inclusive, sort
  ascending by LastActivityUpdate then Id unless ``ignore_sort``, ``PageNumber``/``PageSize``);
* ``GET /v2/servicedesk/tickets/{id}``.

Test controls: ``expire_tokens()`` (then 401), ``before_search(n, action)``, ``fail_next(endpoint, kind)`` for one-shot faults
(``429`` with Retry-After 0, ``429_slow`` with Retry-After 30, ``503``, ``success_false``,
``expire``), ``camel_case`` answers, ``requests`` (every request received) and
``wait_for_requests`` (blocks; call it through ``asyncio.to_thread``). Request keys are read case-insensitively, like the real API is assumed to.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

FAULT_KINDS = frozenset({"429", "429_slow", "503", "success_false", "expire"})


@dataclass
class RecordedRequest:
    """One request the stand-in received."""

    method: str
    path: str
    endpoint: str  # "authenticate", "refreshtoken", "search", "ticket"
    bearer: str | None
    form: dict[str, str] = field(default_factory=dict)
    body: Any = None
    status: int = 0


def make_ticket(
    ticket_id: int, last_activity: str, *, title: str = "", **extra: Any
) -> dict[str, Any]:
    """A TicketListDto-like row (PascalCase keys, invented values)."""
    row: dict[str, Any] = {
        "Id": ticket_id,
        "TicketNumber": f"T20250304.{ticket_id:04d}",
        "Title": title or f"Stand-in ticket {ticket_id}",
        "Details": f"Stand-in details for ticket {ticket_id}.",
        "TenantName": "Stand-in MSP",
        "AccountId": 900 + ticket_id % 7,
        "AccountName": "Stand-in Client Co",
        "StatusId": 1,
        "StatusName": "New",
        "PriorityId": 3,
        "PriorityName": "Medium",
        "QueueId": 2,
        "QueueName": "Helpdesk",
        "TypeId": 1,
        "TypeName": "Incident",
        "IssueTypeId": 7,
        "IssueTypeName": "Hardware",
        "SourceId": 1,
        "OpenDate": "2025-03-01T08:00:00",
        "CreatedOn": "2025-03-01T08:00:00",
        "ModifiedOn": last_activity,
        "LastActivityUpdate": last_activity,
        "CustomFields": None,
    }
    row.update(extra)
    return row


def camel(key: str) -> str:
    """A .NET-style camelCase of a PascalCase key (``SLAId`` → ``slaId``, ``Id`` → ``id``)."""
    chars = list(key)
    for i, ch in enumerate(chars):
        if not ch.isupper():
            break
        if i > 0 and i + 1 < len(chars) and not chars[i + 1].isupper():
            break
        chars[i] = ch.lower()
    return "".join(chars)


def _recase(value: Any) -> Any:
    if isinstance(value, dict):
        return {camel(k): _recase(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_recase(v) for v in value]
    return value


def _ci(obj: Mapping[str, Any], name: str, default: Any = None) -> Any:
    for key, value in obj.items():
        if key.lower() == name.lower():
            return value
    return default


def _parse_time(value: str) -> datetime:
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


class BmsStandIn:
    """The stand-in server and its state. ``with BmsStandIn() as bms: bms.base_url``."""

    def __init__(
        self,
        *,
        username: str = "api.user@standin.example",
        password: str = "stand-in-password",
        company: str = "StandInMSP",
        camel_case: bool = False,
        ignore_sort: bool = False,
        token_lifetime: timedelta = timedelta(hours=1),
    ) -> None:
        self.username = username
        self.password = password
        self.company = company
        self.camel_case = camel_case
        self.ignore_sort = ignore_sort
        self.token_lifetime = token_lifetime
        self.tickets: dict[int, dict[str, Any]] = {}
        self.requests: list[RecordedRequest] = []
        self._access: set[str] = set()
        self._refresh: dict[str, str] = {}  # refresh token -> access token it belongs to
        self._faults: dict[str, list[str | None]] = {}
        self._hooks: dict[int, Callable[[], None]] = {}
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self.port = 0

    # ---- test controls --------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def put(self, *tickets: dict[str, Any]) -> None:
        """Add or replace tickets (PascalCase rows, e.g. from ``make_ticket``)."""
        with self._lock:
            for t in tickets:
                self.tickets[int(t["Id"])] = dict(t)

    def touch(self, ticket_id: int, last_activity: str, **changes: Any) -> None:
        """Modify a ticket: new LastActivityUpdate/ModifiedOn and any field changes."""
        with self._lock:
            t = self.tickets[ticket_id]
            t.update(changes, LastActivityUpdate=last_activity, ModifiedOn=last_activity)

    def expire_tokens(self) -> None:
        """Invalidate every access token issued so far (refresh tokens stay valid)."""
        with self._lock:
            self._access.clear()

    def fail_next(self, endpoint: str, kind: str, times: int = 1, *, after: int = 0) -> None:
        """Let ``after`` requests to ``endpoint`` through, then fail ``times`` with ``kind``."""
        assert kind in FAULT_KINDS, kind
        with self._lock:
            queue = self._faults.setdefault(endpoint, [])
            queue.extend([None] * after)
            queue.extend([kind] * times)

    def before_search(self, number: int, action: Callable[[], None]) -> None:
        """Run ``action`` (e.g. a ``touch``) just before answering the ``number``-th search."""
        with self._lock:
            self._hooks[number] = action

    def wait_for_requests(self, endpoint: str, count: int, timeout: float = 10.0) -> bool:
        """Block until ``count`` requests to ``endpoint`` arrived; False on timeout."""
        with self._arrived:
            return self._arrived.wait_for(
                lambda: sum(r.endpoint == endpoint for r in self.requests) >= count, timeout
            )

    def recorded(self, endpoint: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.endpoint == endpoint]

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> BmsStandIn:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self._app(), log_level="warning", access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="bms-standin", daemon=True
        )
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("BMS stand-in did not start")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> BmsStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- app ------------------------------------------------------------------------------
    def _app(self) -> Starlette:
        @asynccontextmanager
        async def lifespan(_app: Starlette) -> AsyncIterator[None]:
            self._started.set()
            yield

        return Starlette(
            routes=[
                Route("/v2/security/authenticate", self._authenticate, methods=["POST"]),
                Route("/v2/security/refreshtoken", self._refresh_token, methods=["POST"]),
                Route("/v2/servicedesk/tickets/search", self._search, methods=["POST"]),
                Route("/v2/servicedesk/tickets/{ticket_id:int}", self._get_ticket, methods=["GET"]),
            ],
            lifespan=lifespan,
        )

    def _envelope(self, result: Any, *, total: int | None = None, status: int = 200) -> Response:
        doc: dict[str, Any] = {"Success": True, "Error": None, "Result": result}
        if total is not None:
            doc["TotalRecords"] = total
        return JSONResponse(_recase(doc) if self.camel_case else doc, status_code=status)

    def _failure(self, code: str, message: str, *, status: int = 200) -> Response:
        doc = {"Success": False, "Error": {"Code": code, "Message": message}, "Result": None}
        return JSONResponse(_recase(doc) if self.camel_case else doc, status_code=status)

    async def _record(self, request: Request, endpoint: str) -> RecordedRequest:
        raw = await request.body()
        auth = request.headers.get("authorization", "")
        rec = RecordedRequest(
            method=request.method,
            path=request.url.path,
            endpoint=endpoint,
            bearer=auth[7:] if auth.lower().startswith("bearer ") else None,
        )
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("application/x-www-form-urlencoded"):
            rec.form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        elif raw:
            rec.body = json.loads(raw)
        with self._arrived:
            self.requests.append(rec)
            self._arrived.notify_all()
        return rec

    def _fault(self, endpoint: str) -> str | None:
        with self._lock:
            queue = self._faults.get(endpoint)
            return queue.pop(0) if queue else None

    def _injected(self, endpoint: str) -> Response | None:
        kind = self._fault(endpoint)
        if kind == "429":
            return Response("Too Many Requests", status_code=429, headers={"Retry-After": "0"})
        if kind == "429_slow":
            return Response("Too Many Requests", status_code=429, headers={"Retry-After": "30"})
        if kind == "503":
            return Response("Service Unavailable", status_code=503)
        if kind == "success_false":
            return self._failure("ServerError", "The search could not be completed (stand-in).")
        if kind == "expire":
            self.expire_tokens()
        return None

    def _issue_tokens(self) -> dict[str, str]:
        access, refresh = f"standin.{secrets.token_hex(8)}", secrets.token_hex(8)
        now = datetime.now(UTC).replace(microsecond=0)
        with self._lock:
            self._access.add(access)
            self._refresh[refresh] = access
        return {
            "AccessToken": access,
            "RefreshToken": refresh,
            "AccessTokenExpireOn": (now + self.token_lifetime).isoformat().replace("+00:00", "Z"),
            "RefreshTokenExpireOn": (now + timedelta(days=7)).isoformat().replace("+00:00", "Z"),
        }

    def _authorized(self, rec: RecordedRequest) -> bool:
        with self._lock:
            return rec.bearer is not None and rec.bearer in self._access

    async def _authenticate(self, request: Request) -> Response:
        rec = await self._record(request, "authenticate")
        form = rec.form
        if (
            _ci(form, "GrantType", "").lower() != "password"
            or _ci(form, "UserName") != self.username
            or _ci(form, "Password") != self.password
            or _ci(form, "Tenant") != self.company
        ):
            rec.status = 200
            return self._failure("InvalidCredentials", "The user name or password is incorrect.")
        rec.status = 200
        return self._envelope(self._issue_tokens())

    async def _refresh_token(self, request: Request) -> Response:
        rec = await self._record(request, "refreshtoken")
        refresh = _ci(rec.form, "RefreshToken")
        with self._lock:
            known = refresh in self._refresh
            if known:
                self._access.discard(self._refresh.pop(refresh))
        if not known:
            rec.status = 200
            return self._failure("InvalidRefreshToken", "The refresh token is not valid.")
        rec.status = 200
        return self._envelope(self._issue_tokens())

    async def _search(self, request: Request) -> Response:
        rec = await self._record(request, "search")
        injected = self._injected("search")
        if injected is not None:  # "expire" answers None: the token check below then fails
            rec.status = injected.status_code
            return injected
        if not self._authorized(rec):
            rec.status = 401
            return Response(status_code=401)
        with self._lock:
            hook = self._hooks.pop(sum(r.endpoint == "search" for r in self.requests), None)
        if hook is not None:
            hook()
        body = rec.body if isinstance(rec.body, dict) else {}
        number = int(_ci(body, "PageNumber", 1))
        size = int(_ci(body, "PageSize", 100))
        filt = _ci(body, "Filter") or {}
        since = _ci(filt, "LastActivityUpdateFrom")
        with self._lock:
            rows = [dict(t) for t in self.tickets.values()]
        if since:
            floor = _parse_time(since)
            rows = [
                r
                for r in rows
                if r.get("LastActivityUpdate") and _parse_time(r["LastActivityUpdate"]) >= floor
            ]
        rows.sort(
            key=lambda r: (_parse_time(r["LastActivityUpdate"]), r["Id"]), reverse=self.ignore_sort
        )
        page = rows[(number - 1) * size : number * size]
        rec.status = 200
        return self._envelope(page, total=len(rows))

    async def _get_ticket(self, request: Request) -> Response:
        rec = await self._record(request, "ticket")
        injected = self._injected("ticket")
        if injected is not None:
            rec.status = injected.status_code
            return injected
        if not self._authorized(rec):
            rec.status = 401
            return Response(status_code=401)
        ticket_id = int(request.path_params["ticket_id"])
        with self._lock:
            ticket = self.tickets.get(ticket_id)
        if ticket is None:
            rec.status = 404
            return self._failure("NotFound", f"Ticket {ticket_id} was not found.", status=404)
        rec.status = 200
        # TicketOutputDto carries fields the list rows lack (CCs, contact e-mail).
        full = {**ticket, "CCs": [], "ContactEmail": f"contact{ticket_id}@standin.example"}
        return self._envelope(full)
