"""The normalize step: a stored raw payload becomes the vendor-neutral ticket."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from backends.records import TicketState
from backends.sqlite.adapters import EmbeddedStore
from connectors import registry
from connectors.contract import Event, Picklists, Source
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
        if seq <= record.applied_seq:
            return "skipped"  # this payload (or a newer one) was already applied
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

        previous = dict(record.fields)
        fields = {k: v for k, v in asdict(ticket).items() if k != "extra"}
        fields["extra"] = dict(ticket.extra)
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
            saved = await self._store.tickets.save(record, applied_before=seq)
            return "ok" if saved else "skipped"
        content_changed = record.triage is None or text_digest(previous) != text_digest(merged)
        if not content_changed and record.state not in (TicketState.RECEIVED, TicketState.FAILED):
            saved = await self._store.tickets.save(record, applied_before=seq)
            return "ok" if saved else "skipped"  # e.g. a status change: the triage stands
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
            applied_before=seq,
        )
        if not saved:
            return "skipped"  # an overlapping delivery applied this payload (or a newer one)
        self._store.bus.notify()
        return "ok"
