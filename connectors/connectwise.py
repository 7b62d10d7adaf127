"""ConnectWise PSA (Manage): ``/service/tickets`` records and ``/system/callbacks`` deliveries.

* Ticket: ``summary`` (title), ``{id, name}`` references for board (queue), status, priority,
  type/subType (category), owner (assignee), company, contact; ``initialDescription`` when present
  (GET usually omits it: the description lives in the first note); ``_info.lastUpdated``.
* Callback: ``{MessageId, Action (added|updated|deleted), Type, ID, Entity, Metadata.key_url, …}``
  where ``Entity`` is the ticket serialised as a JSON *string* (some senders send an object), and
  null on delete. Key casing varies between senders; every key is read case-insensitively.

Version: the ticket's ``_info.lastUpdated``; otherwise a digest of the payload.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from connectors.contract import Event, NormalizedTicket, PayloadIdentity, Picklists, Source
from connectors.errors import ConnectorError, ConnectorReason
from connectors.fields import CIDict, as_id, ci, join_category, payload_digest
from connectors.picklists import resolve

_ACTIONS = {"added": Event.CREATED, "updated": Event.UPDATED, "deleted": Event.DELETED}
_CALLBACK_MARKERS = frozenset({"entity", "callbackobjectrecid", "metadata", "messageid"})
_TICKET_MARKERS = frozenset({"board", "recordtype", "_info", "closedflag"})


def _is_callback(d: CIDict) -> bool:
    keys = d.lower_keys
    return {"action", "type", "id"} <= keys and bool(keys & _CALLBACK_MARKERS)


def _is_ticket(d: CIDict) -> bool:
    keys = d.lower_keys
    return "id" in keys and "summary" in keys and bool(keys & _TICKET_MARKERS)


def callback_entity(d: CIDict) -> CIDict | None:
    """The ticket carried by a callback (``Entity`` string or object), or None when null."""
    entity = d.first("Entity")
    if entity is None:
        return None
    if isinstance(entity, str):
        try:
            entity = json.loads(entity)
        except (ValueError, RecursionError) as exc:
            raise ConnectorError(
                "ConnectWise callback Entity is not valid JSON",
                reason=ConnectorReason.MALFORMED_FIELD,
                field="Entity",
            ) from exc
    if not isinstance(entity, Mapping):
        raise ConnectorError(
            "ConnectWise callback Entity is not a JSON object",
            reason=ConnectorReason.MALFORMED_FIELD,
            field="Entity",
        )
    return CIDict(entity)


def callback_key_url(doc: Mapping[str, Any]) -> str:
    """``Metadata.key_url`` of a callback ("" when absent): where its signing key is served."""
    meta = ci(doc).obj("Metadata")
    return meta.text("key_url", "keyUrl") if meta is not None else ""


class ConnectWiseConnector:
    """ConnectWise service tickets and ticket callbacks."""

    source = Source.CONNECTWISE

    def matches(self, doc: Mapping[str, Any]) -> bool:
        d = ci(doc)
        return _is_callback(d) or _is_ticket(d)

    def identify(self, doc: Mapping[str, Any], raw: bytes) -> PayloadIdentity:
        d = ci(doc)
        if _is_callback(d):
            event = _callback_event(d)
            entity = callback_entity(d)
            external_id = as_id(d.first("ID")) or (as_id(entity.first("id")) if entity else "")
            version = _last_updated(entity) if entity is not None else ""
        elif _is_ticket(d):
            event, external_id, version = Event.SNAPSHOT, as_id(d.first("id")), _last_updated(d)
        else:
            raise ConnectorError(
                "not a ConnectWise ticket or callback", reason=ConnectorReason.UNKNOWN_SHAPE
            )
        if not external_id:
            raise ConnectorError("ConnectWise payload has no id", reason=ConnectorReason.MISSING_ID)
        return PayloadIdentity(self.source, external_id, version or payload_digest(d), event)

    def normalize(self, doc: Mapping[str, Any], picklists: Picklists) -> NormalizedTicket:
        d = ci(doc)
        identity = self.identify(d, b"")
        extra: dict[str, Any] = {}
        if _is_callback(d):
            ticket = callback_entity(d)
            extra["callback_id"] = as_id(d.first("CallbackObjectRecId"))
            member = d.text("MemberId", "MemberID")
            if member:
                extra["member_id"] = member
        else:
            ticket = d
        if ticket is None:
            return NormalizedTicket(
                source=self.source,
                external_id=identity.external_id,
                version=identity.version,
                event=identity.event,
                is_trigger=identity.event is not Event.DELETED,
                extra=extra,
            )
        return NormalizedTicket(
            source=self.source,
            external_id=identity.external_id,
            version=identity.version,
            event=identity.event,
            extra=extra,
            **_ticket_fields(ticket, picklists, extra),
        )


def _callback_event(d: CIDict) -> Event:
    kind = d.text("Type").lower()
    if kind != "ticket":
        raise ConnectorError(
            "ConnectWise callback is not about a ticket",
            reason=ConnectorReason.NOT_A_TICKET,
            type=kind[:40],
        )
    try:
        return _ACTIONS[d.text("Action").lower()]
    except KeyError:
        raise ConnectorError(
            "ConnectWise callback Action is not added, updated or deleted",
            reason=ConnectorReason.MALFORMED_FIELD,
            field="Action",
        ) from None


def _last_updated(ticket: CIDict) -> str:
    info = ticket.obj("_info")
    return info.text("lastUpdated") if info is not None else ""


def _ref(t: CIDict, key: str, picklists: Picklists, table: str, extra: dict[str, Any]) -> str:
    """The name of a ``{id, name}`` reference, else its id through the picklist."""
    ref = t.obj(key)
    if ref is None:
        return ""
    return resolve(picklists, table, ref.first("id"), extra, name=ref.text("name"))


def _ticket_fields(t: CIDict, picklists: Picklists, extra: dict[str, Any]) -> dict[str, Any]:
    info = t.obj("_info")
    issue = _ref(t, "type", picklists, "issue_type", extra)
    sub_issue = _ref(t, "subType", picklists, "sub_issue_type", extra)
    item = _ref(t, "item", picklists, "item", extra)
    origin = _ref(t, "source", picklists, "source", extra)
    for key, value in (
        ("record_type", t.text("recordType")),
        ("item", item),
        ("source_name", origin),
        ("severity", t.text("severity")),
        ("impact", t.text("impact")),
        ("site", _ref(t, "site", picklists, "site", extra)),
        ("team", _ref(t, "team", picklists, "team", extra)),
        ("due_at", t.text("requiredDate")),
    ):
        if value:
            extra[key] = value
    contact = t.obj("contact")
    company = t.obj("company")
    return {
        "title": t.text("summary"),
        "description": t.text("initialDescription"),
        "external_number": as_id(t.first("id")),
        "status": _ref(t, "status", picklists, "status", extra),
        "priority": _ref(t, "priority", picklists, "priority", extra),
        "queue": _ref(t, "board", picklists, "queue", extra),
        "company": (
            resolve(picklists, "company", company.first("id"), extra, name=company.text("name"))
            if company is not None
            else ""
        ),
        "contact_name": t.text("contactName") or (contact.text("name") if contact else ""),
        "contact_email": t.text("contactEmailAddress"),
        "assignee": _ref(t, "owner", picklists, "assignee", extra),
        "category": join_category(issue, sub_issue),
        "created_at": info.text("dateEntered") if info is not None else t.text("dateEntered"),
        "updated_at": _last_updated(t),
    }
