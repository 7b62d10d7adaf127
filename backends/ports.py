"""Ports (Protocols) the pipeline depends on; adapters live in backends/<engine>/.

The embedded adapters (SQLite) implement every port over one database so that ingest's
"store the raw payload, record the ticket, queue the work" is a single transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from backends.records import (
    AcceptResult,
    DeadLetterRecord,
    Message,
    RawPayload,
    TicketRecord,
    TicketState,
)
from connectors.contract import PayloadIdentity


class IngestJournal(Protocol):
    """Durably records raw payloads before anything else happens."""

    async def accept(
        self, tenant: str, identity: PayloadIdentity, raw: bytes, received_via: str, topic: str
    ) -> AcceptResult:
        """Store ``raw``, create or find the ticket, queue ``topic``; idempotent per version."""
        ...

    async def reject(
        self, tenant: str, source: str, raw: bytes, received_via: str, reason: str
    ) -> DeadLetterRecord:
        """Store ``raw`` that could not be identified, as a replayable dead letter."""
        ...

    async def keep(self, tenant: str, source: str, raw: bytes, received_via: str) -> str:
        """Store a valid payload that needs no processing (kept for audit); returns its id."""
        ...

    async def get_raw(self, raw_payload_id: str) -> RawPayload | None: ...


class TicketRepository(Protocol):
    async def get(self, tenant: str, ticket_id: str) -> TicketRecord | None: ...

    async def list(
        self, tenant: str, *, state: TicketState | None, limit: int, before: tuple[float, str] | None
    ) -> list[TicketRecord]:
        """Newest first; ``before`` is the (created_at, id) of the last ticket of the previous page."""
        ...

    async def save(
        self,
        record: TicketRecord,
        *,
        expected_state: TicketState | None = None,
        applied_before: int | None = None,
        only: tuple[str, ...] | None = None,
    ) -> bool:
        """Save; with guards, only while they hold (compare-and-set). ``only`` limits the
        attributes written. Returns False, writing nothing, when a guard no longer holds."""
        ...

    async def save_and_publish(
        self,
        record: TicketRecord,
        topic: str | None,
        body: dict[str, Any] | None,
        *,
        expected_state: TicketState | None = None,
        applied_before: int | None = None,
        only: tuple[str, ...] | None = None,
    ) -> bool:
        """``save`` and queue ``body`` on ``topic`` atomically (the transactional outbox)."""
        ...


class Bus(Protocol):
    """At-least-once queue with visibility timeouts, delayed retry and dead-lettering."""

    async def publish(self, topic: str, key: str, body: dict[str, Any]) -> None: ...

    async def lease(self, topics: Sequence[str], limit: int, visibility_s: float) -> list[Message]: ...

    async def ack(self, message: Message) -> None: ...

    async def retry(self, message: Message, delay_s: float, error: str) -> None: ...

    async def dead_letter(
        self, message: Message, *, tenant: str, stage: str, reason: str, ticket_id: str, source: str
    ) -> DeadLetterRecord: ...

    async def wait_for_work(self, timeout_s: float) -> None:
        """Return when new work may be available (or after ``timeout_s``)."""
        ...


class DeadLetterStore(Protocol):
    async def list(
        self, tenant: str, *, include_replayed: bool, limit: int, before: tuple[float, str] | None
    ) -> list[DeadLetterRecord]: ...

    async def get(self, tenant: str, dead_letter_id: str) -> DeadLetterRecord | None: ...

    async def mark_replayed(self, dead_letter_id: str) -> None: ...


class Store(Protocol):
    """What ``backends.factory.open_store`` returns: the ports the mesh runs on.

    ``EmbeddedStore`` (SQLite) and ``backends.composite.CompositeStore`` (Cosmos DB + Blob
    Storage + Redis Streams or Service Bus) both provide these attributes; the composite also
    has ``async start()`` and ``async aclose()``, which callers should prefer when present.
    """

    bus: Any
    journal: Any
    tickets: Any
    dead_letters: Any
    timeline: Any
    features: Any

    def close(self) -> None: ...
