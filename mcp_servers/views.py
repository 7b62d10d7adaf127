"""Structured outputs of the tools (pydantic) and their conversion from OMEGA's protos.

Plain functions, tested without MCP. Every ticket-authored string passes through ``untrusted``.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from omega.tickets.v1 import ticket_pb2
from pydantic import BaseModel, Field

from mcp_servers.untrusted import NOTE, untrusted

STATE_NAMES = {
    value: name.removeprefix("TICKET_STATE_").lower()
    for name, value in ticket_pb2.TicketState.items()
    if value
}
STATE_VALUES = {name: value for value, name in STATE_NAMES.items()}
METHOD_NAMES = {
    value: name.removeprefix("DECISION_METHOD_").lower()
    for name, value in ticket_pb2.DecisionMethod.items()
}
SOURCE_NAMES = {
    value: name.removeprefix("SOURCE_SYSTEM_").lower()
    for name, value in ticket_pb2.SourceSystem.items()
    if value
}


class Alternative(BaseModel):
    label: str = Field(description="A candidate label.")
    probability: float = Field(description="Its calibrated probability, 0..1.")


class Decision(BaseModel):
    """One triage decision (category, priority, queue or technician)."""

    label: str = Field(description="The chosen label; empty when no decision was possible.")
    confidence: float = Field(
        description="Calibrated probability of the label, 0..1 (0 for rules)."
    )
    method: str = Field(description="learned, rules, source, human or llm.")
    needs_review: bool = Field(description="True when below the tenant's confidence threshold.")
    alternatives: list[Alternative] = Field(default_factory=list)


class SimilarTicket(BaseModel):
    ticket_id: str
    title: str = Field(description="Untrusted ticket text, wrapped in markers.")
    resolution: str = Field(description="How it was resolved (untrusted text, wrapped).")
    score: float = Field(description="Similarity, 0..1.")
    category: str


class TriageResult(BaseModel):
    """A triage: what OMEGA decided (or would decide) and why."""

    category: Decision | None = None
    priority: Decision | None = None
    queue: Decision | None = None
    technician: Decision | None = None
    confidence: float = Field(description="The category's confidence, 0..1.")
    needs_review: bool = Field(description="True when a human must review the triage.")
    reasons: list[str] = Field(description="Why: thresholds, words and similar tickets.")
    similar: list[SimilarTicket] = Field(default_factory=list)
    model_version: str = ""
    decided_by: str = ""
    language: str = ""


class TriageTicketResult(BaseModel):
    """triage_ticket's answer: the triage and the text it was made from. No ticket was created."""

    triage: TriageResult
    title: str = Field(description="Untrusted ticket text, wrapped in markers.")
    description: str = Field(description="Untrusted ticket text, wrapped in markers.")
    source: str = Field(description="The PSA the payload was recognised as; empty for text.")
    ticket_created: bool = Field(
        default=False, description="Always false: triage_ticket stores nothing."
    )
    note: str = NOTE


class Ticket(BaseModel):
    id: str
    state: str
    source: str
    external_id: str
    external_number: str
    title: str = Field(description="Untrusted ticket text, wrapped in markers.")
    description: str = Field(description="Untrusted ticket text, wrapped in markers.")
    company: str
    source_status: str
    source_priority: str
    source_queue: str
    source_assignee: str
    triage: TriageResult | None = None
    create_time: str
    update_time: str
    note: str = NOTE


class TicketSummary(BaseModel):
    id: str
    state: str
    title: str = Field(description="Untrusted ticket text, wrapped in markers.")
    category: str
    priority: str
    needs_review: bool
    assigned_technician: str
    create_time: str


class TicketList(BaseModel):
    tickets: list[TicketSummary]
    truncated: bool = Field(description="True when more tickets matched than were returned.")
    note: str = NOTE


class SimilarTickets(BaseModel):
    similar: list[SimilarTicket]
    note: str = NOTE


class DecisionExplanation(BaseModel):
    field: str = Field(description="category, priority, queue or technician.")
    label: str
    confidence: float
    method: str
    needs_review: bool
    explanation: str = Field(description="One sentence on how this decision was made.")
    alternatives: list[Alternative]


class TriageExplanation(BaseModel):
    ticket_id: str
    state: str
    summary: str
    decisions: list[DecisionExplanation]
    reasons: list[str]
    similar: list[SimilarTicket]
    model_version: str
    decided_by: str
    note: str = NOTE


def iso(ts: Timestamp) -> str:
    if not ts.seconds and not ts.nanos:
        return ""
    return str(ts.ToDatetime().isoformat()) + "Z"


def decision(pred: ticket_pb2.Prediction) -> Decision:
    return Decision(
        label=pred.label,
        confidence=round(pred.confidence, 4),
        method=METHOD_NAMES.get(pred.method, "unspecified"),
        needs_review=pred.needs_review,
        alternatives=[
            Alternative(label=a.label, probability=round(a.probability, 4))
            for a in pred.alternatives
        ],
    )


def similar_ticket(s: ticket_pb2.SimilarTicket) -> SimilarTicket:
    return SimilarTicket(
        ticket_id=s.ticket_id,
        title=untrusted(s.title),
        resolution=untrusted(s.resolution),
        score=round(s.score, 4),
        category=s.category,
    )


def triage_result(t: ticket_pb2.Triage) -> TriageResult:
    out: dict[str, Any] = {}
    for name in ("category", "priority", "queue", "technician"):
        if t.HasField(name):
            out[name] = decision(getattr(t, name))
    return TriageResult(
        **out,
        confidence=round(t.category.confidence, 4),
        needs_review=t.needs_review,
        reasons=list(t.reasons),
        similar=[similar_ticket(s) for s in t.similar],
        model_version=t.model_version,
        decided_by=t.decided_by,
        language=t.language,
    )


def ticket(t: ticket_pb2.Ticket) -> Ticket:
    return Ticket(
        id=t.id,
        state=STATE_NAMES.get(t.state, "unspecified"),
        source=SOURCE_NAMES.get(t.source, ""),
        external_id=t.external_id,
        external_number=t.external_number,
        title=untrusted(t.title),
        description=untrusted(t.description),
        company=t.company,
        source_status=t.source_status,
        source_priority=t.source_priority,
        source_queue=t.source_queue,
        source_assignee=t.source_assignee,
        triage=triage_result(t.triage) if t.HasField("triage") else None,
        create_time=iso(t.create_time),
        update_time=iso(t.update_time),
    )


def summary(t: ticket_pb2.Ticket) -> TicketSummary:
    return TicketSummary(
        id=t.id,
        state=STATE_NAMES.get(t.state, "unspecified"),
        title=untrusted(t.title),
        category=t.triage.category.label,
        priority=t.triage.priority.label or t.source_priority,
        needs_review=t.triage.needs_review,
        assigned_technician=t.triage.technician.label or t.source_assignee,
        create_time=iso(t.create_time),
    )


def matches(t: ticket_pb2.Ticket, terms: list[str]) -> bool:
    """True when every search term occurs in the ticket's title, description or company."""
    hay = f"{t.title}\n{t.description}\n{t.company}\n{t.external_number}".lower()
    return all(term in hay for term in terms)


_HOW = {
    "learned": "a model trained on the tenant's history chose it with calibrated probability {p:.2f}",
    "rules": "transparent priority rules scored it (no probability)",
    "source": "the PSA already carried it",
    "human": "a technician set it",
    "llm": "a cloud model chose it",
}


def explanation(t: ticket_pb2.Ticket) -> TriageExplanation:
    """Why the ticket was triaged as it was, from the stored triage (no model call)."""
    tri = t.triage
    decisions: list[DecisionExplanation] = []
    for name in ("category", "priority", "queue", "technician"):
        if not tri.HasField(name):
            continue
        d = decision(getattr(tri, name))
        how = _HOW.get(d.method, "it was decided").format(p=d.confidence)
        verdict = (
            "below the tenant's threshold, so a human must review it"
            if d.needs_review
            else "accepted"
        )
        decisions.append(
            DecisionExplanation(
                field=name,
                label=d.label,
                confidence=d.confidence,
                method=d.method,
                needs_review=d.needs_review,
                explanation=f"{name} {d.label!r}: {how}; {verdict}.",
                alternatives=d.alternatives,
            )
        )
    head = ", ".join(f"{d.field}={d.label}" for d in decisions) or "no decision"
    review = "needs human review" if tri.needs_review else "decided automatically"
    return TriageExplanation(
        ticket_id=t.id,
        state=STATE_NAMES.get(t.state, "unspecified"),
        summary=f"{head}; {review} by {tri.decided_by or 'unknown'} ({tri.model_version or 'no model'}).",
        decisions=decisions,
        reasons=list(tri.reasons),
        similar=[similar_ticket(s) for s in tri.similar],
        model_version=tri.model_version,
        decided_by=tri.decided_by,
    )


class CategoryList(BaseModel):
    categories: list[str]
    model_version: str


class RunbookView(BaseModel):
    """One automation the shadow agent may propose."""

    name: str
    title: str
    categories: list[str]
    parameters: list[str]
    unattended: bool = Field(description="May run without confirmation where tenant policy allows")
    threshold: float = Field(description="Triage confidence needed before it is proposed")
    dry_run: str
    undo: str


class RunbookList(BaseModel):
    """The tenant's runbook catalogue."""

    runbooks: list[RunbookView]


def runbooks(items: list[Any]) -> RunbookList:
    return RunbookList(
        runbooks=[
            RunbookView(
                name=r.name, title=r.title, categories=list(r.categories),
                parameters=list(r.parameters), unattended=r.unattended, threshold=r.threshold,
                dry_run=r.dry_run, undo=r.undo,
            )
            for r in items
        ]
    )
