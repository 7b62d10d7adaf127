"""Plain records that cross the storage ports (no gRPC types)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class TicketState(StrEnum):
    """Pipeline states (mirrors omega.tickets.v1.TicketState)."""

    RECEIVED = "RECEIVED"
    NORMALIZED = "NORMALIZED"
    TRIAGED = "TRIAGED"
    ROUTED = "ROUTED"
    PROPOSED = "PROPOSED"
    RESOLVED = "RESOLVED"
    NEEDS_REVIEW = "NEEDS_REVIEW"
    FAILED = "FAILED"
    DELETED = "DELETED"


FINAL_STATES = frozenset(
    {
        TicketState.TRIAGED,
        TicketState.ROUTED,
        TicketState.PROPOSED,
        TicketState.RESOLVED,
        TicketState.NEEDS_REVIEW,
        TicketState.FAILED,
        TicketState.DELETED,
    }
)


@dataclass(frozen=True)
class AcceptResult:
    """What the ingest journal did with one payload."""

    ticket_id: str
    raw_payload_id: str
    duplicate: bool


@dataclass(frozen=True)
class RawPayload:
    id: str
    tenant: str
    source: str
    received_via: str
    body: bytes
    received_at: float
    sha256: str


@dataclass
class TicketRecord:
    """A ticket as stored: identity, the normalized fields, triage and pipeline state."""

    id: str
    tenant: str
    source: str
    external_id: str
    state: TicketState
    created_at: float
    updated_at: float
    version: str = ""
    raw_payload_id: str = ""
    fields: dict[str, Any] = field(default_factory=dict)  # the NormalizedTicket's fields
    triage: dict[str, Any] | None = None
    error: str = ""
    applied_seq: int = 0  # arrival sequence of the raw payload last applied


@dataclass(frozen=True)
class Message:
    """A leased bus message: ack it, retry it later, or dead-letter it."""

    id: int
    topic: str
    key: str
    body: dict[str, Any]
    attempts: int
    lease: str


@dataclass(frozen=True)
class DeadLetterRecord:
    id: str
    tenant: str
    stage: str
    reason: str
    raw_payload_id: str
    ticket_id: str
    source: str
    attempts: int
    created_at: float
    replayed: bool
    topic: str = ""
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class TicketEvent:
    """One step of a ticket's journey (the Orchestrator's timeline)."""

    ticket_id: str
    step: str
    attempt: int
    started_at: float
    finished_at: float
    outcome: str  # "ok" | "skipped" | "retry" | "dead_letter"
    error: str = ""
    detail: str = ""


def raw_message_body(
    tenant: str, ticket_id: str, raw_payload_id: str, seq: int, identity: Any, accepted_at: float
) -> dict[str, Any]:
    """The ``ticket.raw`` message every ingest journal queues (teams/normalize.py reads it).

    ``identity`` is the payload's ``connectors.contract.PayloadIdentity``; ``seq`` orders the
    payloads of one ticket as they arrived.
    """
    return {
        "tenant": tenant,
        "ticket_id": ticket_id,
        "raw_payload_id": raw_payload_id,
        "seq": seq,
        "source": identity.source.value,
        "version": identity.version,
        "event": identity.event.value,
        "accepted_at": accepted_at,
    }
