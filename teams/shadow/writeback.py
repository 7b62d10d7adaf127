"""Write-back: applying a triage or a resolution updates the ticket in its PSA.

One port (``TicketWriteBack.write``) with adapters for Autotask (``PATCH /Tickets``), ConnectWise
(``PATCH /service/tickets/{id}`` with a JSON-Patch array) and Kaseya BMS
(``PUT /v2/servicedesk/tickets/{id}``) on httpx. Each retries transport errors, 429 and 5xx with
backoff; the caller (``ShadowService``) gives every write an idempotency key, records it, and never
repeats a write that succeeded. Without a configured PSA the ``RecordingWriteBack`` keeps what
would have been written (the embedded default; the dashboard says so).

Picklist-backed fields (priority, queue, status, issue type) are written as the PSA's ids, found
by reversing the tenant's picklists (``[tenants.<name>.picklists.<source>]``); a label with no id
is left out of the write and reported in ``WriteResult.skipped``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from teams.shadow.config import WriteBackTarget

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class TicketChange:
    """What to write to the PSA ticket; empty strings mean "leave as is"."""

    category: str = ""
    priority: str = ""
    queue: str = ""
    assignee: str = ""
    resolved: bool = False
    resolution: str = ""
    status: str = ""  # an explicit status (a revert re-opens the ticket with its old status)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in ("", False)}


@dataclass(frozen=True)
class WriteResult:
    """The outcome of one write: where it went, what was sent, what could not be mapped."""

    ok: bool
    target: str
    status_code: int = 0
    attempts: int = 0
    request: dict[str, Any] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()
    error: str = ""


class TicketWriteBack(Protocol):
    name: str

    async def write(
        self, external_id: str, change: TicketChange, *, idempotency_key: str,
        picklists: Mapping[str, Mapping[str, str]] | None = None,
    ) -> WriteResult: ...

    async def aclose(self) -> None: ...


class RecordingWriteBack:
    """No PSA configured: record what would have been written (nothing leaves the machine)."""

    name = "recording"

    def __init__(self) -> None:
        self.writes: list[tuple[str, dict[str, Any], str]] = []

    async def write(
        self, external_id: str, change: TicketChange, *, idempotency_key: str,
        picklists: Mapping[str, Mapping[str, str]] | None = None,
    ) -> WriteResult:
        self.writes.append((external_id, change.as_dict(), idempotency_key))
        return WriteResult(ok=True, target=self.name, attempts=1, request={"change": change.as_dict()})

    async def aclose(self) -> None:
        return None


def _reverse(picklists: Mapping[str, Mapping[str, str]] | None, table: str, label: str) -> str:
    """The PSA id for ``label`` in ``table`` (a numeric label is taken as an id)."""
    if not label:
        return ""
    for key, name in (picklists or {}).get(table, {}).items():
        if name.strip().lower() == label.strip().lower():
            return str(key)
    return label if label.isdigit() else ""


def _as_int(value: str) -> int | str:
    return int(value) if value.isdigit() else value


class _HttpWriteBack:
    """Retries with jittered backoff; subclasses build the request."""

    name = "http"

    def __init__(self, target: WriteBackTarget, http: httpx.AsyncClient | None = None) -> None:
        self.target = target
        self._owns = http is None
        self._http = http or httpx.AsyncClient(timeout=target.timeout_s, follow_redirects=False)
        self.backoff_s = 0.2

    def request(
        self, external_id: str, change: TicketChange, picklists: Mapping[str, Mapping[str, str]] | None
    ) -> tuple[str, str, Any, tuple[str, ...]]:
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        return {}

    async def write(
        self, external_id: str, change: TicketChange, *, idempotency_key: str,
        picklists: Mapping[str, Mapping[str, str]] | None = None,
    ) -> WriteResult:
        method, url, body, skipped = self.request(external_id, change, picklists)
        headers = {**self.headers(), "Idempotency-Key": idempotency_key, "Content-Type": "application/json"}
        error, status, tried = "", 0, 0
        attempts = max(1, self.target.attempts)
        for attempt in range(1, attempts + 1):
            tried = attempt
            try:
                resp = await self._http.request(method, url, json=body, headers=headers)
                status = resp.status_code
                if 200 <= status < 300 and _body_ok(resp):
                    return WriteResult(True, self.name, status, attempt, {"method": method, "url": url, "body": body}, skipped)
                error = f"HTTP {status}"
                if status not in RETRY_STATUSES and not (200 <= status < 300):
                    break
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}"
            if attempt < attempts:
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1) * (0.5 + random.random() / 2))  # noqa: S311
        log.warning("write-back to %s failed after %d attempts: %s", self.name, tried, error)
        return WriteResult(False, self.name, status, tried, {"method": method, "url": url, "body": body}, skipped, error)

    async def aclose(self) -> None:
        if self._owns:
            await self._http.aclose()


def _body_ok(resp: httpx.Response) -> bool:
    """Kaseya BMS can answer HTTP 200 with ``Success: false``."""
    try:
        doc = resp.json()
    except ValueError:
        return True
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key.lower() == "success" and value is False:
                return False
    return True


def _picklist_fields(
    body: dict[str, Any],
    change: TicketChange,
    picklists: Mapping[str, Mapping[str, str]] | None,
    resolved_status: str,
    keys: Mapping[str, str],
) -> tuple[str, ...]:
    """Put the picklist ids of the changed names into ``body`` under the vendor's ``keys``
    (table → field); returns the tables whose name has no id in the tenant's picklists."""
    skipped: list[str] = []
    wanted = [("priority", change.priority), ("queue", change.queue), ("issue_type", change.category)]
    if change.resolved or change.status:
        wanted.append(("status", change.status or resolved_status))
    for table, name in wanted:
        if not name:
            continue
        pid = _reverse(picklists, table, name)
        if pid:
            body[keys[table]] = _as_int(pid)
        else:
            skipped.append(table)
    return tuple(skipped)


class AutotaskWriteBack(_HttpWriteBack):
    """``PATCH {base}/Tickets`` with the ticket's ``id`` and the changed fields."""

    name = "autotask"

    def headers(self) -> dict[str, str]:
        t = self.target
        return {"ApiIntegrationCode": t.integration_code, "UserName": t.username, "Secret": t.secret.get_secret_value()}

    def request(
        self, external_id: str, change: TicketChange, picklists: Mapping[str, Mapping[str, str]] | None
    ) -> tuple[str, str, Any, tuple[str, ...]]:
        body: dict[str, Any] = {"id": _as_int(external_id)}
        skipped = _picklist_fields(
            body, change, picklists, self.target.resolved_status,
            {"priority": "priority", "queue": "queueID", "issue_type": "issueType", "status": "status"},
        )
        if change.resolution:
            body["resolution"] = change.resolution
        return "PATCH", self.target.base_url.rstrip("/") + "/Tickets", body, skipped


class ConnectWiseWriteBack(_HttpWriteBack):
    """``PATCH {base}/service/tickets/{id}`` with a JSON-Patch array of name references."""

    name = "connectwise"

    def headers(self) -> dict[str, str]:
        t = self.target
        basic = base64.b64encode(f"{t.company}+{t.public_key}:{t.private_key.get_secret_value()}".encode()).decode()
        return {"Authorization": f"Basic {basic}", "clientId": t.client_id}

    def request(
        self, external_id: str, change: TicketChange, picklists: Mapping[str, Mapping[str, str]] | None
    ) -> tuple[str, str, Any, tuple[str, ...]]:
        ops: list[dict[str, Any]] = []
        for value, path in (
            (change.priority, "priority"), (change.queue, "board"), (change.category, "type"),
            (change.assignee, "owner"),
        ):
            if value:
                ref = {"identifier": value} if path == "owner" else {"name": value}
                ops.append({"op": "replace", "path": path, "value": ref})
        if change.resolved or change.status:
            name = change.status or self.target.resolved_status
            ops.append({"op": "replace", "path": "status", "value": {"name": name}})
        url = f"{self.target.base_url.rstrip('/')}/service/tickets/{external_id}"
        return "PATCH", url, ops, ()


class KaseyaBmsWriteBack(_HttpWriteBack):
    """``PUT {base}/v2/servicedesk/tickets/{id}`` with the changed ids (bearer token)."""

    name = "kaseya_bms"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.target.bearer_token.get_secret_value()}"}

    def request(
        self, external_id: str, change: TicketChange, picklists: Mapping[str, Mapping[str, str]] | None
    ) -> tuple[str, str, Any, tuple[str, ...]]:
        body: dict[str, Any] = {"Id": _as_int(external_id)}
        skipped = _picklist_fields(
            body, change, picklists, self.target.resolved_status,
            {"priority": "PriorityId", "queue": "QueueId", "issue_type": "IssueTypeId", "status": "StatusId"},
        )
        if change.resolution:
            body["ResolutionNote"] = change.resolution  # field name unconfirmed (docs/shadow.md)
        url = f"{self.target.base_url.rstrip('/')}/v2/servicedesk/tickets/{external_id}"
        return "PUT", url, body, tuple(skipped)


ADAPTERS: dict[str, type[_HttpWriteBack]] = {
    "autotask": AutotaskWriteBack,
    "connectwise": ConnectWiseWriteBack,
    "kaseya_bms": KaseyaBmsWriteBack,
}


def make_writeback(target: WriteBackTarget | None, http: httpx.AsyncClient | None = None) -> TicketWriteBack:
    """The adapter for ``target``, or a recording write-back when no PSA is configured."""
    if target is None:
        return RecordingWriteBack()
    return ADAPTERS[target.kind](target, http)
