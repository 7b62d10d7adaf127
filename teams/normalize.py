"""The normalize step: a stored raw payload becomes the vendor-neutral ticket."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from backends.records import TicketRecord, TicketState
from backends.sqlite.adapters import EmbeddedStore
from connectors import registry
from connectors.contract import Event, NormalizedTicket, Picklists, Source
from federation.errors import OmegaError
from mesh.settings import TenantDirectory
from teams.pipeline import PermanentStepError

log = logging.getLogger(__name__)

TOPIC_NORMALIZED = "ticket.normalized"
# Fields a later payload may leave empty without erasing what an earlier one said
# (webhooks carry only the changed fields).
_CONTENT = ("title", "description")


def text_digest(fields: Mapping[str, Any]) -> str:
    text = f"{fields.get('title', '')}\n{fields.get('description', '')}"
    return hashlib.sha256(text.encode()).hexdigest()


def _fields_of(ticket: NormalizedTicket) -> dict[str, Any]:
    fields = {k: v for k, v in asdict(ticket).items() if k != "extra"}
    fields["extra"] = dict(ticket.extra)
    return fields


class ConcurrentUpdate(Exception):
    """The ticket changed between read and save (another step saved it): retry the step."""


class NormalizeStep:
    name = "ticket.raw"

    def __init__(self, store: EmbeddedStore, tenants: TenantDirectory) -> None:
        self._store = store
        self._tenants = tenants

    async def handle(self, body: Mapping[str, Any]) -> str:
        tenant, ticket_id = str(body["tenant"]), str(body["ticket_id"])
        seq = int(body["seq"])
        record = await self._store.tickets.get(tenant, ticket_id)
        if record is None:
            raise PermanentStepError(f"ticket {ticket_id} does not exist")
        if seq == record.applied_seq:
            return "skipped"  # this payload was already applied (a redelivery)
        raw = await self._store.journal.get_raw(str(body["raw_payload_id"]))
        if raw is None:
            raise PermanentStepError(f"raw payload {body['raw_payload_id']} is missing")
        source = Source(str(body["source"]))
        try:
            doc = registry.parse_payload(raw.body)
            picklists = Picklists(self._tenants.get(tenant).picklists.get(source.value, {}))
            ticket = registry.connector_for(source).normalize(doc, picklists)
        except OmegaError as exc:
            raise PermanentStepError(f"cannot normalize: {exc.message}") from exc

        if seq < record.applied_seq:
            return await self._fill_gaps(record, ticket)
        # Guards: the state and the arrival sequence as read now. Another payload of the same
        # ticket applied in between (even an older one filling gaps) fails the save, and the
        # step is retried on a fresh read: a merge never starts from stale fields.
        started_state, read_seq = record.state, record.applied_seq
        previous = dict(record.fields)
        fields = _fields_of(ticket)
        merged = dict(previous)
        for key, value in fields.items():
            if value not in ("", None, {}) or key not in previous:
                merged[key] = value
        record.fields = merged
        record.applied_seq = seq
        record.version = ticket.version
        record.raw_payload_id = raw.id
        record.error = ""
        if ticket.event is Event.DELETED:
            record.state = TicketState.DELETED
            await self._save(record, started_state, read_seq + 1)
            return "ok"
        content_changed = record.triage is None or text_digest(previous) != text_digest(merged)
        if not content_changed and record.state not in (TicketState.RECEIVED, TicketState.FAILED):
            await self._save(record, started_state, read_seq + 1)  # a status change: triage stands
            return "ok"
        record.state = TicketState.NORMALIZED
        saved = await self._store.tickets.save_and_publish(
            record,
            TOPIC_NORMALIZED,
            {
                "tenant": tenant,
                "ticket_id": ticket_id,
                "seq": seq,
                "text_sha256": text_digest(merged),
                "accepted_at": body.get("accepted_at", 0.0),
            },
            applied_before=read_seq + 1,
            expected_state=started_state,
        )
        if not saved:
            raise ConcurrentUpdate(f"ticket {ticket_id} changed while it was normalized")
        self._store.bus.notify()
        return "ok"

    async def _save(
        self, record: TicketRecord, started_state: TicketState, applied_before: int
    ) -> None:
        """Save unless the ticket moved on since it was read (then the step is retried and
        re-reads it; a redelivery of an applied payload is skipped at the top)."""
        if not await self._store.tickets.save(
            record, applied_before=applied_before, expected_state=started_state
        ):
            raise ConcurrentUpdate(f"ticket {record.id} changed while it was normalized")

    async def _fill_gaps(self, record: TicketRecord, ticket: NormalizedTicket) -> str:
        """An older payload that arrived after a newer one: it may fill fields the newer ones
        did not carry (webhooks send only what changed), never overwrite what they said."""
        if ticket.event is Event.DELETED:
            return "skipped"
        gaps = {
            k: v
            for k, v in _fields_of(ticket).items()
            if v not in ("", None, {}) and record.fields.get(k) in ("", None, {})
        }
        if not gaps:
            return "skipped"
        record.fields = {**record.fields, **gaps}
        await self._save(record, record.state, record.applied_seq + 1)
        return "ok"
