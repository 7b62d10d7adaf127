"""Ticket records ↔ omega.tickets.v1 messages."""

from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from omega.tickets.v1 import ticket_pb2

from backends.records import TicketRecord, TicketState
from connectors.contract import Source

STATE_TO_PROTO = {
    TicketState.RECEIVED: ticket_pb2.TICKET_STATE_RECEIVED,
    TicketState.NORMALIZED: ticket_pb2.TICKET_STATE_NORMALIZED,
    TicketState.TRIAGED: ticket_pb2.TICKET_STATE_TRIAGED,
    TicketState.ROUTED: ticket_pb2.TICKET_STATE_ROUTED,
    TicketState.PROPOSED: ticket_pb2.TICKET_STATE_PROPOSED,
    TicketState.RESOLVED: ticket_pb2.TICKET_STATE_RESOLVED,
    TicketState.NEEDS_REVIEW: ticket_pb2.TICKET_STATE_NEEDS_REVIEW,
    TicketState.FAILED: ticket_pb2.TICKET_STATE_FAILED,
    TicketState.DELETED: ticket_pb2.TICKET_STATE_DELETED,
}
PROTO_TO_STATE = {v: k for k, v in STATE_TO_PROTO.items()}

SOURCE_TO_PROTO = {
    Source.AUTOTASK: ticket_pb2.SOURCE_SYSTEM_AUTOTASK,
    Source.CONNECTWISE: ticket_pb2.SOURCE_SYSTEM_CONNECTWISE,
    Source.KASEYA_BMS: ticket_pb2.SOURCE_SYSTEM_KASEYA_BMS,
    Source.DATTO_RMM: ticket_pb2.SOURCE_SYSTEM_DATTO_RMM,
    Source.GENERIC: ticket_pb2.SOURCE_SYSTEM_GENERIC,
}
PROTO_TO_SOURCE = {v: k for k, v in SOURCE_TO_PROTO.items()}

METHODS = {
    "learned": ticket_pb2.DECISION_METHOD_LEARNED,
    "rules": ticket_pb2.DECISION_METHOD_RULES,
    "source": ticket_pb2.DECISION_METHOD_SOURCE,
    "human": ticket_pb2.DECISION_METHOD_HUMAN,
    "llm": ticket_pb2.DECISION_METHOD_LLM,
}


def timestamp(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def _prediction(data: Any) -> ticket_pb2.Prediction | None:
    if not isinstance(data, dict):
        return None
    return ticket_pb2.Prediction(
        label=str(data.get("label", "")),
        confidence=float(data.get("confidence", 0.0)),
        alternatives=[
            ticket_pb2.Alternative(label=str(alt[0]), probability=float(alt[1]))
            for alt in data.get("alternatives", []) or []
        ],
        method=METHODS.get(str(data.get("method", "")), ticket_pb2.DECISION_METHOD_UNSPECIFIED),  # type: ignore[arg-type]
        needs_review=bool(data.get("needs_review", False)),
    )


def triage_to_proto(data: dict[str, Any]) -> ticket_pb2.Triage:
    msg = ticket_pb2.Triage(
        needs_review=bool(data.get("needs_review", False)),
        reasons=[str(r) for r in data.get("reasons", [])],
        model_version=str(data.get("model_version", "")),
        language=str(data.get("language", "")),
        decided_by=str(data.get("decided_by", "")),
        similar=[
            ticket_pb2.SimilarTicket(
                ticket_id=str(s.get("ticket_id", "")),
                title=str(s.get("title", "")),
                resolution=str(s.get("resolution", "")),
                score=float(s.get("score", 0.0)),
                category=str(s.get("category", "")),
            )
            for s in data.get("similar", []) or []
        ],
    )
    for name in ("category", "priority", "queue", "technician"):
        pred = _prediction(data.get(name))
        if pred is not None:
            getattr(msg, name).CopyFrom(pred)
    if data.get("triaged_at"):
        msg.triage_time.CopyFrom(timestamp(float(data["triaged_at"])))
    return msg


def ticket_to_proto(record: TicketRecord) -> ticket_pb2.Ticket:
    f = record.fields
    msg = ticket_pb2.Ticket(
        id=record.id,
        tenant=record.tenant,
        source=SOURCE_TO_PROTO.get(Source(record.source), ticket_pb2.SOURCE_SYSTEM_UNSPECIFIED),  # type: ignore[arg-type]
        external_id=record.external_id,
        external_number=str(f.get("external_number", "")),
        title=str(f.get("title", "")),
        description=str(f.get("description", "")),
        company=str(f.get("company", "")),
        contact_name=str(f.get("contact_name", "")),
        contact_email=str(f.get("contact_email", "")),
        source_status=str(f.get("status", "")),
        source_priority=str(f.get("priority", "")),
        source_queue=str(f.get("queue", "")),
        source_assignee=str(f.get("assignee", "")),
        source_category=str(f.get("category", "")),
        state=STATE_TO_PROTO[record.state],
        raw_payload_id=record.raw_payload_id,
        payload_version=record.version,
        error=record.error,
        is_trigger=bool(f.get("is_trigger", False)),
    )
    msg.create_time.CopyFrom(timestamp(record.created_at))
    msg.update_time.CopyFrom(timestamp(record.updated_at))
    if record.triage is not None:
        msg.triage.CopyFrom(triage_to_proto(record.triage))
    return msg
