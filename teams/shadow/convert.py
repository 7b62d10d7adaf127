"""Shadow records ↔ omega.tickets.v1.Proposal / omega.shadow.v1 messages."""

from __future__ import annotations

from typing import Any

import grpc
from omega.shadow.v1 import shadow_pb2
from omega.tickets.v1 import ticket_pb2

from federation.tenancy import TECHNICIAN_METADATA_KEY
from federation.tickets.convert import ticket_to_proto, timestamp
from teams.shadow.service import QueueItem
from teams.shadow.store import Proposal, ProposalKind, ProposalState

STATE_TO_PROTO = {s: getattr(ticket_pb2, f"PROPOSAL_STATE_{s.value}") for s in ProposalState}
PROTO_TO_STATE = {v: k for k, v in STATE_TO_PROTO.items()}
KIND_TO_PROTO = {k: getattr(ticket_pb2, f"PROPOSAL_KIND_{k.value}") for k in ProposalKind}


def technician_from(explicit: str, context: grpc.aio.ServicerContext) -> str:
    """The acting technician: the request field, else the x-omega-technician metadata."""
    if explicit:
        return explicit
    for key, value in context.invocation_metadata() or ():
        if key == TECHNICIAN_METADATA_KEY:
            return str(value)
    return ""


def proposal_to_proto(p: Proposal) -> ticket_pb2.Proposal:
    s: dict[str, Any] = p.suggestion
    book = s.get("runbook") or {}
    msg = ticket_pb2.Proposal(
        id=p.id, tenant=p.tenant, ticket_id=p.ticket_id, technician=p.technician,
        kind=KIND_TO_PROTO[p.kind], state=STATE_TO_PROTO[p.state], runbook=p.runbook,
        params=p.params, confidence=p.confidence, auto=p.auto, summary=str(s.get("summary", "")),
        next_step=str(s.get("next_step", "")), reply_draft=str(s.get("reply_draft", "")),
        dry_run=str(book.get("dry_run", "")), reasons=[str(r) for r in book.get("why", [])],
        auto_apply_reason=str(s.get("auto_apply", "")), model_version=p.model_version, error=p.error,
        execution_summary=str((p.execution or {}).get("summary", "")),
        similar=[
            ticket_pb2.SimilarTicket(ticket_id=str(x.get("ticket_id", "")), title=str(x.get("title", "")),
                                     resolution=str(x.get("resolution", "")), score=float(x.get("score", 0) or 0),
                                     category=str(x.get("category", "")))
            for x in s.get("similar", [])
        ],
    )
    msg.create_time.CopyFrom(timestamp(p.created_at))
    msg.update_time.CopyFrom(timestamp(p.updated_at or p.created_at))
    msg.expire_time.CopyFrom(timestamp(p.expires_at))
    return msg


def queue_item_to_proto(item: QueueItem) -> shadow_pb2.QueueItem:
    msg = shadow_pb2.QueueItem(ticket=ticket_to_proto(item.ticket), sla_risk=item.sla_risk)
    if item.proposal is not None:
        msg.proposal.CopyFrom(proposal_to_proto(item.proposal))
    return msg


def proposal_to_json(p: Proposal) -> dict[str, Any]:
    """The proposal as the dashboard's JSON API shows it."""
    s = p.suggestion
    return {
        "id": p.id, "ticket_id": p.ticket_id, "technician": p.technician, "kind": p.kind.value,
        "state": p.state.value, "runbook": p.runbook, "params": p.params, "confidence": p.confidence,
        "auto": p.auto, "summary": s.get("summary", ""), "next_step": s.get("next_step", ""),
        "reply_draft": s.get("reply_draft", ""), "runbook_info": s.get("runbook"),
        "auto_apply_reason": s.get("auto_apply", ""), "similar": s.get("similar", []),
        "model_version": p.model_version, "error": p.error,
        "execution": (p.execution or {}).get("summary", ""), "created_at": p.created_at,
        "expires_at": p.expires_at,
    }
