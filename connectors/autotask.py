"""Autotask PSA: the REST ticket entity and the TicketWebhooks delivery.

* Entity (``GET /Tickets/{id}`` → ``{"item": {...}}``, or a bare item from ``/Tickets/query``):
  camelCase keys, integer picklists (priority, status, queueID, issueType, subIssueType, source,
  ticketType) resolved through the tenant's ``Picklists``: never through a built-in table,
  because Autotask picklists differ between tenants.
* Webhook: ``{Action, Guid, EntityType, Id, Fields, EventTime, SequenceNumber, PersonID}``;
  ``Fields`` holds only subscribed and "display always" fields, PascalCase with string values.
  Without Title/Description in ``Fields`` the delivery is a trigger: fetch the ticket by ``Id``.

Version: ``<SequenceNumber>@<Guid>`` for webhooks (the counter is per webhook, so the Guid keeps two
webhooks of one tenant apart); ``lastTrackedModificationDateTime`` or ``lastActivityDate`` for
entities; otherwise a digest of the payload (``fields.payload_digest``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.contract import Event, NormalizedTicket, PayloadIdentity, Picklists, Source
from connectors.errors import ConnectorError, ConnectorReason
from connectors.fields import CIDict, as_id, as_text, ci, join_category, payload_digest
from connectors.picklists import resolve

_WEBHOOK_KEYS = frozenset({"action", "entitytype"})
# Keys only Autotask's ticket entity has (BMS says AccountId/IssueTypeId, ConnectWise "company").
_ENTITY_MARKERS = frozenset(
    {
        "companyid",
        "companylocationid",
        "assignedresourceid",
        "assignedresourceroleid",
        "issuetype",
        "subissuetype",
        "ticketcategory",
        "tickettype",
        "lasttrackedmodificationdatetime",
        "createdate",
        "duedatetime",
        "creatorresourceid",
    }
)
_ACTIONS = {"create": Event.CREATED, "update": Event.UPDATED, "delete": Event.DELETED}


def _entity(doc: CIDict) -> CIDict | None:
    """The ticket item of an entity payload (wrapped or bare), or None."""
    item = doc.obj("item")
    candidate = item if item is not None and len(doc) == 1 else doc
    keys = candidate.lower_keys
    if "id" in keys and keys & _ENTITY_MARKERS and keys & {"title", "ticketnumber"}:
        return candidate
    return None


def _is_webhook(doc: CIDict) -> bool:
    return _WEBHOOK_KEYS <= doc.lower_keys and bool(doc.lower_keys & {"guid", "id"})


class AutotaskConnector:
    """Autotask REST ticket entities and TicketWebhooks deliveries."""

    source = Source.AUTOTASK

    def matches(self, doc: Mapping[str, Any]) -> bool:
        d = ci(doc)
        return _is_webhook(d) or _entity(d) is not None

    def identify(self, doc: Mapping[str, Any], raw: bytes) -> PayloadIdentity:
        d = ci(doc)
        if _is_webhook(d):
            event = self._webhook_event(d)
            external_id = as_id(d.first("Id"))
            if not external_id:
                raise ConnectorError(
                    "Autotask webhook has no Id", reason=ConnectorReason.MISSING_ID
                )
            seq = as_id(d.first("SequenceNumber"))
            guid = d.text("Guid")
            if seq:
                version = f"{seq}@{guid}" if guid else seq
            else:
                version = payload_digest(d)
            return PayloadIdentity(self.source, external_id, version, event)
        item = _entity(d)
        if item is None:
            raise ConnectorError(
                "not an Autotask ticket entity or webhook", reason=ConnectorReason.UNKNOWN_SHAPE
            )
        external_id = as_id(item.first("id"))
        version = item.text("lastTrackedModificationDateTime", "lastActivityDate")
        return PayloadIdentity(
            self.source, external_id, version or payload_digest(d), Event.SNAPSHOT
        )

    def normalize(self, doc: Mapping[str, Any], picklists: Picklists) -> NormalizedTicket:
        d = ci(doc)
        identity = self.identify(d, b"")
        extra: dict[str, Any] = {}
        if _is_webhook(d):
            fields = d.obj("Fields") or CIDict({})
            extra["webhook_guid"] = d.text("Guid")
            person = as_id(d.first("PersonID", "PersonId"))
            if person:
                extra["person_id"] = person
            ticket = _ticket_fields(fields, picklists, extra)
            trigger = identity.event is not Event.DELETED and not (
                ticket["title"] or ticket["description"]
            )
            ticket["updated_at"] = d.text("EventTime") or ticket["updated_at"]
        else:
            item = _entity(d)
            assert item is not None  # identify() raised otherwise
            ticket = _ticket_fields(item, picklists, extra)
            trigger = False
        return NormalizedTicket(
            source=self.source,
            external_id=identity.external_id,
            version=identity.version,
            event=identity.event,
            is_trigger=trigger,
            extra=extra,
            **ticket,
        )

    @staticmethod
    def _webhook_event(d: CIDict) -> Event:
        entity_type = d.text("EntityType").lower()
        action = d.text("Action").lower()
        if action == "deactivated":
            raise ConnectorError(
                "Autotask webhook deactivation notice", reason=ConnectorReason.NOT_A_TICKET
            )
        if entity_type != "ticket":
            raise ConnectorError(
                "Autotask webhook is not about a ticket",
                reason=ConnectorReason.NOT_A_TICKET,
                entity_type=entity_type[:40],
            )
        try:
            return _ACTIONS[action]
        except KeyError:
            raise ConnectorError(
                "Autotask webhook Action is not Create, Update or Delete",
                reason=ConnectorReason.MALFORMED_FIELD,
                field="Action",
            ) from None


def _ticket_fields(f: CIDict, picklists: Picklists, extra: dict[str, Any]) -> dict[str, Any]:
    """Contract fields from an entity item or webhook ``Fields`` (same names, any casing)."""
    issue = resolve(picklists, "issue_type", f.first("issueType"), extra)
    sub_issue = resolve(picklists, "sub_issue_type", f.first("subIssueType"), extra)
    ticket_type = resolve(picklists, "ticket_type", f.first("ticketType"), extra)
    origin = resolve(picklists, "source", f.first("source"), extra)
    if ticket_type:
        extra["ticket_type"] = ticket_type
    if origin:
        extra["source_name"] = origin
    for key, name in (
        ("rmmAlertID", "rmm_alert_id"),
        ("configurationItemID", "configuration_item_id"),
        ("dueDateTime", "due_at"),
        ("ticketCategory", "ticket_category_id"),
    ):
        value = as_text(f.first(key))
        if value:
            extra[name] = value
    return {
        "title": f.text("title"),
        "description": f.text("description"),
        "external_number": f.text("ticketNumber"),
        "status": resolve(picklists, "status", f.first("status"), extra),
        "priority": resolve(picklists, "priority", f.first("priority"), extra),
        "queue": resolve(picklists, "queue", f.first("queueID"), extra),
        "company": resolve(picklists, "company", f.first("companyID"), extra),
        "contact_name": resolve(picklists, "contact", f.first("contactID"), extra),
        "assignee": resolve(picklists, "assignee", f.first("assignedResourceID"), extra),
        "category": join_category(issue, sub_issue),
        "created_at": f.text("createDate"),
        "updated_at": f.text("lastTrackedModificationDateTime", "lastActivityDate"),
    }
