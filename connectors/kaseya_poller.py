"""Polls Kaseya BMS for new and changed tickets and sends each one to ``IngestTicket``.

Cursor (persisted in a small JSON file, written atomically): the high-water modification time
(``settings.cursor_field``, ``LastActivityUpdate`` by default) of the newest ticket ingested, and
the ids (with their modification times) of the tickets ingested within ``overlap_s`` of it. A
search starts at ``high_water - overlap_s``; a ticket is new when its time is past the high-water
mark, or inside the window and not remembered at that time. So equal timestamps across pages are
neither lost nor sent twice, whether BMS treats the filter's lower bound as inclusive or not.

Paging is keyset-style: after each page is ingested the cursor advances and the next search
starts again at page 1 from the new cursor, so tickets modified meanwhile cannot shift an unread
ticket onto an already-read page. A full page that brings nothing new (many tickets share one
time) moves on to the next page number. If BMS ignores the sort (UNCONFIRMED syntax), the
poller notices the disorder and, for the rest of the process, reads each cycle's whole result
set with a fixed filter and advances the cursor once at its end.

Delivery is at-least-once: the cursor moves only after every ticket of the page was accepted
(ingest is idempotent on tenant, source, external id and version, so a redelivery is harmless).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any, Protocol

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from connectors.contract import Source
from connectors.kaseya_bms_api import (
    BmsRequestFailed,
    KaseyaBmsApi,
    KaseyaBmsSettings,
    TicketPage,
    ci_get,
    parse_bms_time,
)
from federation.errors import FailedPrecondition, OmegaError
from sdk.client import IngestResult

log = logging.getLogger(__name__)

RECEIVED_VIA = "connector:kaseya-bms"
STATE_VERSION = 1


class CursorStateError(FailedPrecondition):
    """The cursor file is unreadable or belongs to another BMS tenant or cursor field."""

    reason = "KASEYA_CURSOR_STATE"


class IngestFailed(OmegaError):
    """IngestTicket refused a ticket; the page's cursor was not advanced."""

    reason = "KASEYA_INGEST_FAILED"

    def __init__(self, message: str, *, code: grpc.StatusCode, ticket_id: str) -> None:
        super().__init__(message, ticket_id=ticket_id, grpc_code=code.name)
        self.code = code
        self.ticket_id = ticket_id


class TicketIngestor(Protocol):
    """What the poller needs of ``sdk.client.OmegaClient``."""

    async def ingest_ticket(
        self,
        payload: bytes,
        *,
        source: Source | None = None,
        tenant: str | None = None,
        received_via: str = "sdk",
    ) -> IngestResult: ...


# ---- cursor -------------------------------------------------------------------------------------
def _format_like(value: datetime, template: datetime) -> str:
    """``value`` as ISO 8601, naive when BMS sent naive times (so BMS reads it in its own zone)."""
    if template.tzinfo is None:
        return value.replace(tzinfo=None).isoformat()
    return value.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Cursor:
    """The high-water modification time and the ids seen within the overlap window below it."""

    high_water: str | None = None
    seen: Mapping[str, str] = field(default_factory=dict)

    def is_new(self, ticket_id: str, modified: datetime, overlap: timedelta) -> bool:
        if self.high_water is None:
            return True
        high = parse_bms_time(self.high_water)
        if modified > high:
            return True
        if modified < high - overlap:
            return False
        previous = self.seen.get(ticket_id)
        return previous is None or modified > parse_bms_time(previous)

    def advanced(self, items: Iterable[tuple[str, str]], overlap: timedelta) -> Cursor:
        """The cursor after ``(ticket id, modification time)`` pairs were ingested."""
        merged = dict(self.seen)
        for ticket_id, modified in items:
            old = merged.get(ticket_id)
            if old is None or parse_bms_time(modified) > parse_bms_time(old):
                merged[ticket_id] = modified
        candidates = [t for t in (self.high_water, *merged.values()) if t is not None]
        if not candidates:
            return self
        high = max(candidates, key=parse_bms_time)
        floor = parse_bms_time(high) - overlap
        seen = {i: m for i, m in merged.items() if parse_bms_time(m) >= floor}
        return Cursor(high, dict(sorted(seen.items())))

    def query_from(self, overlap: timedelta) -> str | None:
        """The search's lower bound: the high-water mark minus the overlap."""
        if self.high_water is None:
            return None
        raw = datetime.fromisoformat(self.high_water)
        return _format_like(raw - overlap, raw)


class CursorStore:
    """The cursor in a JSON file, replaced atomically (temp file, fsync, rename, fsync dir)."""

    def __init__(self, path: Path, identity: Mapping[str, str]) -> None:
        self.path = path
        self._identity = dict(identity)

    @classmethod
    def for_settings(cls, path: Path, settings: KaseyaBmsSettings) -> CursorStore:
        """A store bound to this BMS host, company and cursor field (another one is refused)."""
        return cls(
            path,
            {
                "base_url": settings.base_url.rstrip("/"),
                "bms_tenant": settings.tenant,
                "cursor_field": settings.cursor_field,
            },
        )

    def load(self) -> Cursor:
        if not self.path.exists():
            return Cursor()
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            identity = doc["identity"]
            high_water = doc["high_water"]
            seen = {str(k): str(v) for k, v in doc["seen"].items()}
            if high_water is not None:
                parse_bms_time(high_water)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CursorStateError(
                f"cursor file {self.path} is unreadable ({type(exc).__name__}); fix or remove it"
            ) from exc
        if identity != self._identity:
            raise CursorStateError(
                f"cursor file {self.path} belongs to {identity}, not {self._identity}; "
                "use another --state-file"
            )
        return Cursor(high_water, seen)

    def save(self, cursor: Cursor) -> None:
        doc = {
            "version": STATE_VERSION,
            "identity": self._identity,
            "high_water": cursor.high_water,
            "seen": dict(cursor.seen),
            "saved_at": datetime.now(UTC).isoformat(),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, indent=1)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError):  # make the rename itself durable (POSIX)
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


# ---- poller -------------------------------------------------------------------------------------
@dataclass
class PollReport:
    """What one poll cycle did."""

    pages: int = 0
    fetched: int = 0
    ingested: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    high_water: str | None = None
    ordered: bool = True
    stopped: bool = False


@dataclass(frozen=True)
class _Entry:
    ticket: dict[str, Any]
    ticket_id: str | None
    modified_raw: str | None
    modified: datetime | None

    @property
    def key(self) -> tuple[str, str]:
        if self.ticket_id is None:
            digest = hashlib.sha256(json.dumps(self.ticket, sort_keys=True).encode()).hexdigest()
            return (f"sha256:{digest}", self.modified_raw or "")
        return (self.ticket_id, self.modified_raw or "")


class _Unordered(Exception):
    """BMS returned a page out of order: the sort was not applied."""


class KaseyaPoller:
    """Polls ticket search and ingests each ticket; ``poll_once`` is one cycle, ``run`` loops."""

    def __init__(
        self,
        api: KaseyaBmsApi,
        omega: TicketIngestor,
        store: CursorStore,
        settings: KaseyaBmsSettings,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._api = api
        self._omega = omega
        self._store = store
        self._settings = settings
        self._clock = clock or (lambda: datetime.now(UTC))
        self._overlap = timedelta(seconds=settings.overlap_s)
        self._cursor: Cursor | None = None
        self._ordered = True

    @property
    def cursor(self) -> Cursor | None:
        """The cursor as last loaded or saved (None before the first poll)."""
        return self._cursor

    async def run(
        self,
        stop: asyncio.Event,
        *,
        interval_s: float | None = None,
        stop_grace_s: float = 10.0,
    ) -> None:
        """Poll every ``interval_s`` until ``stop`` is set; errors are logged and retried.

        On ``stop`` the cycle in flight may finish its page for ``stop_grace_s``; after that it
        is cancelled, which is safe: the cursor only ever holds fully ingested pages.
        """
        interval = interval_s or self._settings.poll_interval_s
        while not stop.is_set():
            poll = asyncio.create_task(self.poll_once(stop))
            stopping = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait({poll, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not poll.done():
                    await asyncio.wait({poll}, timeout=stop_grace_s)
                if not poll.done():
                    log.warning("stopping: abandoned the poll in flight; the cursor is intact")
                    poll.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await poll
                    return
            finally:
                stopping.cancel()
                if not poll.done():
                    poll.cancel()
            self._log_outcome(poll)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    @staticmethod
    def _log_outcome(poll: asyncio.Task[PollReport]) -> None:
        exc = poll.exception()
        if exc is None:
            report = poll.result()
            log.info(
                "kaseya-bms poll done pages=%d fetched=%d ingested=%d duplicates=%d "
                "dead_lettered=%d high_water=%s",
                report.pages,
                report.fetched,
                report.ingested,
                report.duplicates,
                report.dead_lettered,
                report.high_water,
            )
        elif isinstance(exc, CursorStateError):
            raise exc
        elif isinstance(exc, OmegaError):
            log.error("kaseya-bms poll failed [%s]: %s", exc.reason, exc.message)
        else:
            log.error("kaseya-bms poll failed unexpectedly", exc_info=exc)

    async def poll_once(self, stop: asyncio.Event | None = None) -> PollReport:
        """One cycle: every new or changed ticket since the cursor, page by page."""
        if self._cursor is None:
            self._cursor = await asyncio.to_thread(self._store.load)
        report = PollReport()
        done: set[tuple[str, str]] = set()
        if self._ordered:
            try:
                await self._poll_keyset(report, done, stop)
            except _Unordered:
                self._ordered = False
                log.warning(
                    "BMS did not sort tickets by %s (Sort=%r); reading whole result sets "
                    "per cycle from now on",
                    self._settings.cursor_field,
                    self._settings.sort,
                )
        if not self._ordered:
            report.ordered = False
            await self._poll_snapshot(report, done, stop)
        report.high_water = self._cursor.high_water
        return report

    # ---- cycles ---------------------------------------------------------------------------
    def _initial_since(self) -> str | None:
        days = self._settings.initial_lookback_days
        if days <= 0:
            return None
        since = self._clock() - timedelta(days=days)
        return since.replace(microsecond=0).isoformat().replace("+00:00", "Z")

    def _since(self, cursor: Cursor) -> str | None:
        return cursor.query_from(self._overlap) or self._initial_since()

    async def _poll_keyset(
        self, report: PollReport, done: set[tuple[str, str]], stop: asyncio.Event | None
    ) -> None:
        page_number = 1
        previous_last: datetime | None = None
        while True:
            if stop is not None and stop.is_set():
                report.stopped = True
                return
            assert self._cursor is not None
            page = await self._search(self._since(self._cursor), page_number, report)
            entries = [self._entry(t) for t in page.tickets]
            times = [e.modified for e in entries if e.modified is not None]
            if previous_last is not None:
                times.insert(0, previous_last)
            if any(later < earlier for earlier, later in pairwise(times)):
                raise _Unordered
            fresh = [e for e in entries if self._is_new(self._cursor, e, done)]
            if fresh:
                await self._ingest(fresh, report, done)
                await self._advance(fresh)
                page_number, previous_last = 1, None
            else:
                page_number += 1
                previous_last = times[-1] if times else previous_last
            if self._exhausted(page):
                return

    async def _poll_snapshot(
        self, report: PollReport, done: set[tuple[str, str]], stop: asyncio.Event | None
    ) -> None:
        assert self._cursor is not None
        start = self._cursor
        since = self._since(start)
        ingested: list[_Entry] = []
        page_number = 1
        while True:
            if stop is not None and stop.is_set():
                report.stopped = True  # nothing saved: the cycle is redone, idempotently
                return
            page = await self._search(since, page_number, report)
            entries = [self._entry(t) for t in page.tickets]
            fresh = [e for e in entries if self._is_new(start, e, done)]
            if fresh:
                await self._ingest(fresh, report, done)
                ingested.extend(fresh)
            if self._exhausted(page):
                break
            page_number += 1
        await self._advance(ingested)

    async def _search(self, since: str | None, page_number: int, report: PollReport) -> TicketPage:
        page = await self._api.search_tickets(since, page_number, self._settings.page_size)
        report.pages += 1
        report.fetched += len(page.tickets)
        return page

    @staticmethod
    def _exhausted(page: TicketPage) -> bool:
        if len(page.tickets) < page.page_size:
            return True
        total = page.total_records
        return total is not None and page.page_number * page.page_size >= total

    def _is_new(self, cursor: Cursor, entry: _Entry, done: set[tuple[str, str]]) -> bool:
        if entry.key in done:
            return False
        if entry.ticket_id is None or entry.modified is None:
            return True  # cannot be placed on the cursor: send it (the server deduplicates)
        return cursor.is_new(entry.ticket_id, entry.modified, self._overlap)

    def _entry(self, ticket: dict[str, Any]) -> _Entry:
        raw_id = ci_get(ticket, "Id")
        ticket_id = str(raw_id) if isinstance(raw_id, int | str) and raw_id != "" else None
        raw_time = ci_get(ticket, self._settings.cursor_field)
        modified: datetime | None = None
        if isinstance(raw_time, str) and raw_time:
            try:
                modified = parse_bms_time(raw_time)
            except ValueError:
                log.warning(
                    "ticket %s has an unreadable %s", ticket_id, self._settings.cursor_field
                )
        return _Entry(ticket, ticket_id, raw_time if modified else None, modified)

    async def _advance(self, entries: list[_Entry]) -> None:
        assert self._cursor is not None
        placed = [
            (e.ticket_id, e.modified_raw)
            for e in entries
            if e.ticket_id is not None and e.modified_raw is not None
        ]
        cursor = self._cursor.advanced(placed, self._overlap)
        if cursor != self._cursor:
            await asyncio.to_thread(self._store.save, cursor)
            self._cursor = cursor

    # ---- ingest ---------------------------------------------------------------------------
    async def _ingest(
        self, entries: list[_Entry], report: PollReport, done: set[tuple[str, str]]
    ) -> None:
        """Ingest every entry (bounded concurrency); raises the first failure after all ran."""
        gate = asyncio.Semaphore(self._settings.ingest_concurrency)

        async def one(entry: _Entry) -> None:
            async with gate:
                await self._ingest_one(entry, report)
            done.add(entry.key)

        results = await asyncio.gather(*(one(e) for e in entries), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _ingest_one(self, entry: _Entry, report: PollReport) -> None:
        doc = entry.ticket
        if self._settings.fetch_full_ticket and entry.ticket_id is not None:
            try:
                doc = await self._api.get_ticket(entry.ticket_id)
            except BmsRequestFailed as exc:
                log.warning(
                    "GET ticket %s refused [%s]; sending the search row instead",
                    entry.ticket_id,
                    exc.bms_code or exc.upstream_status,
                )
        payload = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        try:
            result = await self._omega.ingest_ticket(
                payload,
                source=Source.KASEYA_BMS,
                tenant=self._settings.omega_tenant or None,
                received_via=RECEIVED_VIA,
            )
        except grpc.aio.AioRpcError as err:
            if _kept_as_dead_letter(err):
                log.warning(
                    "ticket %s refused by ingest but kept as a dead letter", entry.ticket_id
                )
                report.dead_lettered += 1
                return
            raise IngestFailed(
                f"IngestTicket failed for BMS ticket {entry.ticket_id}: {err.code().name}",
                code=err.code(),
                ticket_id=entry.ticket_id or "",
            ) from err
        if result.duplicate:
            report.duplicates += 1
        else:
            report.ingested += 1


def _kept_as_dead_letter(err: grpc.aio.AioRpcError) -> bool:
    """True when ingest refused the payload but stored it as a replayable dead letter."""
    if err.code() != grpc.StatusCode.INVALID_ARGUMENT:
        return False
    try:
        status = rpc_status.from_call(err)
    except ValueError:
        return False
    if status is None:
        return False
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            if info.metadata.get("dead_letter_id"):
                return True
    return False
