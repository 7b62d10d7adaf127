"""The pipeline's state machine and each ticket's timeline (no gRPC types here).

A ticket moves through these states; each arrow is one pipeline step (a bus topic consumed by
one team), run at least once and applied exactly once (compare-and-set saves)::

    RECEIVED ──ticket.raw──▶ NORMALIZED ──ticket.normalized──▶ TRIAGED ──ticket.triaged──▶ ROUTED
     (ingest)   (normalize)                (triage team)          │        (shadow team)    │
                                              │                   ▼                         ▼
                                              └──▶ NEEDS_REVIEW  PROPOSED ──▶ RESOLVED ◀────┘
    any state ──(a step dead-lettered)──▶ FAILED

TRIAGED, ROUTED, PROPOSED, RESOLVED, NEEDS_REVIEW and FAILED are final for the pipeline
(``backends.records.FINAL_STATES``): later moves are made by people (confirm, resolve, correct).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from backends.ports import TicketRepository
from backends.records import TicketEvent, TicketState
from federation.errors import InvalidArgument, NotFound

# The pipeline's transitions: state → the states a step (or a person) may move it to.
TRANSITIONS: dict[TicketState, frozenset[TicketState]] = {
    TicketState.RECEIVED: frozenset({TicketState.NORMALIZED, TicketState.FAILED}),
    TicketState.NORMALIZED: frozenset(
        {TicketState.TRIAGED, TicketState.NEEDS_REVIEW, TicketState.FAILED}
    ),
    TicketState.TRIAGED: frozenset({TicketState.ROUTED, TicketState.PROPOSED, TicketState.FAILED}),
    TicketState.ROUTED: frozenset({TicketState.PROPOSED, TicketState.RESOLVED}),
    TicketState.PROPOSED: frozenset({TicketState.RESOLVED, TicketState.ROUTED}),
    TicketState.NEEDS_REVIEW: frozenset({TicketState.TRIAGED, TicketState.RESOLVED}),
    TicketState.RESOLVED: frozenset(),
    TicketState.FAILED: frozenset(),
}

# Each step (the topic it consumes) and the state it moves a ticket to when it succeeds.
STEP_TARGETS: dict[str, TicketState] = {
    "ticket.raw": TicketState.NORMALIZED,
    "ticket.normalized": TicketState.TRIAGED,
    "ticket.triaged": TicketState.PROPOSED,
}

# The team that consumes each step's topic (Capacity Manager teams, Kubernetes deployables).
STEP_TEAMS: dict[str, str] = {
    "ticket.raw": "orchestrator",
    "ticket.normalized": "triage",
    "ticket.triaged": "shadow",
}


def can_transition(current: TicketState, target: TicketState) -> bool:
    """True when the state machine allows ``current`` → ``target``."""
    return target in TRANSITIONS.get(current, frozenset())


def team_for_step(step: str) -> str:
    """The team consuming ``step``'s topic (the topic itself for steps not listed)."""
    return STEP_TEAMS.get(step, step)


class TimelineReader(Protocol):
    """The store's per-ticket step events (``store.timeline``)."""

    async def events(self, tenant: str, ticket_id: str) -> list[TicketEvent]: ...


@dataclass(frozen=True)
class TicketTimeline:
    """A ticket's current state and every recorded step attempt, oldest first."""

    ticket_id: str
    state: str
    error: str
    events: list[TicketEvent]


class Orchestrator:
    """Reads a ticket's journey from the store's timeline (``store.timeline``) and tickets."""

    def __init__(self, timeline: TimelineReader, tickets: TicketRepository) -> None:
        self._timeline = timeline
        self._tickets = tickets

    async def timeline(self, tenant: str, ticket_id: str) -> TicketTimeline:
        """The ticket's timeline; NotFound when the tenant has no such ticket."""
        if not ticket_id:
            raise InvalidArgument("ticket_id is required", reason="MISSING_TICKET_ID")
        record = await self._tickets.get(tenant, ticket_id)
        events = await self._timeline.events(tenant, ticket_id)
        if record is None and not events:
            raise NotFound(f"no ticket {ticket_id!r}", reason="TICKET_NOT_FOUND")
        state = record.state.value if record is not None else ""
        error = record.error if record is not None else ""
        return TicketTimeline(ticket_id, state, error, events)
