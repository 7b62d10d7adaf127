"""Ingest: store the raw payload first, then queue it; idempotent per ticket version.

Plain domain logic (no gRPC types). The identity of a payload (source, external id, version)
is read cheaply here; full normalization happens later, in the pipeline, never in the RPC.
"""

from __future__ import annotations

import logging
import time
from typing import NamedTuple

from backends.ports import DeadLetterStore, IngestJournal
from backends.records import AcceptResult, DeadLetterRecord, TicketState
from connectors import registry
from connectors.contract import Source
from connectors.errors import ConnectorReason
from federation.errors import FailedPrecondition, InvalidArgument, NotFound, OmegaError
from mesh.settings import TenantDirectory

log = logging.getLogger(__name__)

TOPIC_RAW = "ticket.raw"
# The state a ticket is put back in when a dead letter of that pipeline stage is replayed.
REPLAY_STATE = {"ticket.raw": TicketState.RECEIVED, "ticket.normalized": TicketState.NORMALIZED}
MAX_PAYLOAD_BYTES = 8 * 1024 * 1024
BURST_CALLS_PER_200MS = 40


class IngestRefused(InvalidArgument):
    """The payload could not be identified; it was kept as a replayable dead letter."""

    reason = "PAYLOAD_REFUSED"


class IngestOutcome(NamedTuple):  # a tuple: made on every ingest call, cheaper than a dataclass
    ticket_id: str
    raw_payload_id: str
    duplicate: bool
    source: Source | None
    ignored_reason: str = ""  # set when the payload is valid but not about a ticket


class IngestService:
    """Accepts raw payloads for the tenants in ``tenants``."""

    def __init__(
        self, journal: IngestJournal, dead_letters: DeadLetterStore, tenants: TenantDirectory
    ) -> None:
        self._journal = journal
        self._dead_letters = dead_letters
        self.tenants = tenants
        # Calls being accepted right now, and calls started in the current and the previous
        # 100 ms: the pipeline holds back while a burst is coming in (mesh.app wires ``busy``
        # into the pipeline workers), so accepting comes first.
        self.in_flight = 0
        self._bucket = 0  # int(monotonic() * 10) of the current 100 ms
        self._started_now = 0
        self._started_before = 0

    def busy(self, threshold: int = 8, burst_calls: int = BURST_CALLS_PER_200MS) -> bool:
        """Whether an ingest burst is under way: ``threshold`` or more calls in flight, or
        ``burst_calls`` or more started within about 200 ms (≥ 200/s by default, four times
        the 50 tickets/s a busy MSP sends). In-flight calls alone miss a burst the event loop
        cannot keep up with: then most calls wait in the gRPC layer, not in this service."""
        if self.in_flight >= threshold:
            return True
        bucket = int(time.monotonic() * 10)
        if bucket == self._bucket:
            recent = self._started_now + self._started_before
        elif bucket == self._bucket + 1:
            recent = self._started_now
        else:
            recent = 0
        return recent >= burst_calls

    def _count_start(self) -> None:
        bucket = int(time.monotonic() * 10)
        if bucket != self._bucket:
            self._started_before = self._started_now if bucket == self._bucket + 1 else 0
            self._started_now = 0
            self._bucket = bucket
        self._started_now += 1

    async def ingest(
        self, tenant: str, raw: bytes, *, source: Source | None, received_via: str
    ) -> IngestOutcome:
        """Store ``raw`` durably and queue it; raises ``IngestRefused`` (kept for replay)."""
        self._count_start()
        self.in_flight += 1
        try:
            return await self._ingest(tenant, raw, source=source, received_via=received_via)
        finally:
            self.in_flight -= 1

    async def _ingest(
        self, tenant: str, raw: bytes, *, source: Source | None, received_via: str
    ) -> IngestOutcome:
        self.tenants.get(tenant)  # NotFound for an unknown tenant: nothing is stored
        if not raw:
            raise InvalidArgument("payload is empty", reason="EMPTY_PAYLOAD")
        if len(raw) > MAX_PAYLOAD_BYTES:
            raise InvalidArgument(
                f"payload is {len(raw)} bytes; the limit is {MAX_PAYLOAD_BYTES}",
                reason="PAYLOAD_TOO_LARGE",
            )
        try:
            _doc, identity = registry.identify(raw, source)
        except OmegaError as exc:
            if exc.reason == ConnectorReason.NOT_A_TICKET:
                # A note, a deactivation notice, a contact event: answer OK so the PSA does not
                # retry or deactivate the webhook; keep the bytes for audit, queue nothing.
                raw_id = await self._journal.keep(
                    tenant, source.value if source else "", raw, received_via
                )
                return IngestOutcome("", raw_id, False, source, ignored_reason=exc.message)
            dead = await self._journal.reject(
                tenant, source.value if source else "", raw, received_via, exc.message
            )
            log.info("payload refused tenant=%s dead_letter=%s reason=%s", tenant, dead.id, exc.reason)
            raise IngestRefused(
                f"{exc.message} (kept as dead letter {dead.id} for replay)",
                reason=exc.reason,
                dead_letter_id=dead.id,
                raw_payload_id=dead.raw_payload_id,
            ) from exc
        result: AcceptResult = await self._journal.accept(
            tenant, identity, raw, received_via, TOPIC_RAW
        )
        return IngestOutcome(result.ticket_id, result.raw_payload_id, result.duplicate, identity.source)

    async def list_dead_letters(
        self, tenant: str, *, include_replayed: bool, limit: int, before: tuple[float, str] | None
    ) -> list[DeadLetterRecord]:
        self.tenants.get(tenant)
        return await self._dead_letters.list(
            tenant, include_replayed=include_replayed, limit=limit, before=before
        )

    async def replay(self, tenant: str, dead_letter_id: str, *, source: Source | None) -> str:
        """Send a dead letter through again; returns the ticket id it now belongs to."""
        record = await self._dead_letters.get(tenant, dead_letter_id)
        if record is None:
            raise NotFound(f"no dead letter {dead_letter_id!r}", reason="DEAD_LETTER_NOT_FOUND")
        if record.replayed:
            raise FailedPrecondition(
                f"dead letter {dead_letter_id} was already replayed", reason="ALREADY_REPLAYED"
            )
        if record.stage != "ingest":
            requeue = getattr(self._dead_letters, "requeue", None)
            state = REPLAY_STATE.get(record.topic)
            if requeue is None or record.body is None or state is None:
                raise FailedPrecondition("this dead letter cannot be requeued", reason="NOT_REPLAYABLE")
            await requeue(record, state)
            return record.ticket_id
        raw = await self._journal.get_raw(record.raw_payload_id)
        if raw is None:
            raise FailedPrecondition("the raw payload is missing", reason="RAW_PAYLOAD_MISSING")
        chosen = source or (Source(record.source) if record.source else None)
        try:
            _doc, identity = registry.identify(raw.body, chosen)
        except OmegaError as exc:
            raise FailedPrecondition(
                f"still cannot be ingested: {exc.message}", reason=exc.reason
            ) from exc
        result = await self._journal.accept(tenant, identity, raw.body, "replay", TOPIC_RAW)
        await self._dead_letters.mark_replayed(record.id)
        return result.ticket_id
