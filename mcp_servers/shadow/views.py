"""Structured outputs of the shadow tools and the plain functions behind them."""

from __future__ import annotations

from typing import Any, Literal

from omega.tickets.v1 import ticket_pb2
from pydantic import BaseModel, Field

from mcp_servers import views
from mcp_servers.untrusted import NOTE, untrusted

ActionName = Literal["resolve", "confirm_proposal", "reject_proposal"]


class ProposalSummary(BaseModel):
    id: str
    kind: str = Field(description="What confirming it does (runbook, reply, review, ...).")
    state: str
    confidence: float
    runbook: str
    next_step: str


class QueueEntry(BaseModel):
    ticket: views.TicketSummary
    proposal: ProposalSummary | None
    sla_risk: float = Field(description="Share of the SLA target used (1 means breached).")


class Queue(BaseModel):
    technician: str
    entries: list[QueueEntry] = Field(description="Most urgent first.")
    note: str = NOTE


class DraftReply(BaseModel):
    """What the shadow agent prepared for a ticket: a reply draft and the next step."""

    ticket_id: str
    proposal_id: str
    kind: str
    reply_draft: str = Field(description="A reply to the end user (wrapped: it quotes the ticket).")
    summary: str = Field(description="Extractive summary of the ticket (untrusted text, wrapped).")
    next_step: str
    confidence: float
    reasons: list[str]
    dry_run: str = Field(description="What the runbook would do, for runbook proposals.")
    awaiting_confirmation: bool = Field(
        description="True when the proposal awaits you: use propose_action to confirm or reject it."
    )
    note: str = NOTE


class ProposedAction(BaseModel):
    """A change awaiting confirmation; nothing has happened yet."""

    confirmation_token: str = Field(
        description="Pass to confirm_action to apply the change; single use, expires."
    )
    expires_at: float = Field(description="Unix time after which the token is refused.")
    ticket_id: str
    action: ActionName
    summary: str = Field(description="What confirm_action will do, in one sentence.")
    ticket_title: str = Field(description="Untrusted ticket text, wrapped in markers.")
    note: str = NOTE


class ActionResult(BaseModel):
    ticket_id: str
    action: ActionName
    state: str = Field(description="The ticket's (resolve) or proposal's state after the action.")
    detail: str = Field(description="What OMEGA reported doing.")


class TriageCorrection(BaseModel):
    ticket_id: str
    category: str = Field(description="The category now recorded.")
    priority: str = Field(description="The priority now recorded.")
    state: str


def _enum_name(enum: Any, value: int, prefix: str) -> str:
    try:
        return str(enum.Name(value)).removeprefix(prefix).lower()
    except ValueError:
        return "unspecified"


def proposal_summary(p: ticket_pb2.Proposal) -> ProposalSummary:
    return ProposalSummary(
        id=p.id,
        kind=_enum_name(ticket_pb2.ProposalKind, p.kind, "PROPOSAL_KIND_"),
        state=_enum_name(ticket_pb2.ProposalState, p.state, "PROPOSAL_STATE_"),
        confidence=round(p.confidence, 4),
        runbook=p.runbook,
        next_step=p.next_step,
    )


def queue_entry(item: Any) -> QueueEntry:
    return QueueEntry(
        ticket=views.summary(item.ticket),
        proposal=proposal_summary(item.proposal) if item.HasField("proposal") else None,
        sla_risk=round(item.sla_risk, 4),
    )


def draft_reply(resp: Any) -> DraftReply:
    p = resp.proposal
    return DraftReply(
        ticket_id=resp.ticket.id,
        proposal_id=p.id,
        kind=_enum_name(ticket_pb2.ProposalKind, p.kind, "PROPOSAL_KIND_"),
        reply_draft=untrusted(p.reply_draft),
        summary=untrusted(p.summary),
        next_step=p.next_step,
        confidence=round(p.confidence, 4),
        reasons=list(p.reasons),
        dry_run=p.dry_run,
        awaiting_confirmation=p.state == ticket_pb2.PROPOSAL_STATE_PROPOSED,
    )


def describe_action(action: str, ticket_id: str, params: dict[str, str]) -> str:
    if action == "resolve":
        return f"Resolve ticket {ticket_id} in OMEGA and write the resolution back to the PSA."
    if action == "confirm_proposal":
        return (
            f"Apply the shadow agent's proposal {params.get('proposal_id', '')} on ticket "
            f"{ticket_id} (runs its runbook or applies its triage)."
        )
    return (
        f"Reject the shadow agent's proposal {params.get('proposal_id', '')} on ticket {ticket_id}."
    )
