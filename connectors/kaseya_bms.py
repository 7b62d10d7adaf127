"""Kaseya BMS: v2 tickets (``TicketOutputDto``/``TicketListDto``), legacy v1 tickets, webhooks.

Accepted shapes (keys matched case-insensitively: the spec shows PascalCase, real clients read
camelCase):

* v2 envelope ``{Success, Error, Result, TotalRecords}``: ``Success: false`` raises
  ``SOURCE_ERROR`` with BMS's error message; ``Result`` is one ticket (a search page of exactly
  one ticket is accepted, more raise ``BATCH_NOT_SUPPORTED``).
* legacy v1 envelope ``{ResponseCode, Status, Error, Result}`` (``ResponseCode`` 0 is success).
* a bare ticket: what the poller sends for each ``TicketListDto`` of a search page.
* a webhook body. BMS does not publish its webhook payload (UNCONFIRMED): a body carrying a
  ticket (top level or under Data/Payload/Ticket/Entity/Result) is read as that ticket; a body
  with only an id and an event is a trigger (``is_trigger``): fetch ``GET
  /v2/servicedesk/tickets/{id}``.

Body text is ``Details`` (BMS has no Description). Names come from the ``*Name`` fields; when a
payload carries only ``*Id`` fields they are resolved through the tenant's ``Picklists``.
Version: the later of ``ModifiedOn`` and ``LastActivityUpdate``; otherwise a payload digest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.contract import Event, NormalizedTicket, PayloadIdentity, Picklists, Source
from connectors.errors import ConnectorError, ConnectorReason
from connectors.fields import CIDict, as_id, as_text, ci, join_category, payload_digest
from connectors.picklists import resolve

_V2_ENVELOPE = frozenset({"success", "result"})
_V1_ENVELOPE = frozenset({"responsecode", "result"})
_ENVELOPE_KEYS = frozenset({"success", "error", "result", "totalrecords", "responsecode", "status"})
_TICKET_MARKERS = frozenset(
    {
        "accountid",
        "accountname",
        "accountcode",
        "accountlocationid",
        "statusid",
        "statusname",
        "priorityid",
        "priorityname",
        "queuename",
        "issuetypeid",
        "issuetypename",
        "assigneename",
        "lastactivityupdate",
        "tenantid",
    }
)
_EVENT_KEYS = ("Event", "EventType", "EventName", "Action", "Type", "Trigger")
_NESTED_KEYS = ("Data", "Payload", "Ticket", "Entity", "Result")
_TRIGGER_ID_KEYS = ("TicketId", "Id", "TicketNumber")


def _is_ticket(d: CIDict) -> bool:
    keys = d.lower_keys
    return "id" in keys and ("details" in keys or len(keys & _TICKET_MARKERS) >= 2)


@dataclass(frozen=True)
class _Read:
    """What a BMS payload turned out to be."""

    ticket: CIDict | None  # None for a trigger-only webhook
    event: Event
    api: str  # "v2", "v1" or "webhook"
    trigger_id: str = ""
    trigger_id_is_number: bool = False


def _envelope_ticket(d: CIDict, api: str) -> CIDict:
    """The ticket inside a v1/v2 envelope, after checking the envelope reports success."""
    if api == "v2":
        ok = d.first("Success") is True or as_text(d.first("Success")).lower() == "true"
    else:
        ok = as_id(d.first("ResponseCode")) in ("0", "")
    if not ok:
        error = d.first("Error")
        message = ""
        if isinstance(error, Mapping):
            message = CIDict(error).text("Message", "Code")
        elif isinstance(error, str):
            message = error
        raise ConnectorError(
            f"Kaseya BMS reported an error: {message[:200] or 'no message'}",
            reason=ConnectorReason.SOURCE_ERROR,
        )
    result = d.first("Result")
    if isinstance(result, list):
        if len(result) > 1:
            raise ConnectorError(
                f"Kaseya BMS page holds {len(result)} tickets; send each ticket on its own",
                reason=ConnectorReason.BATCH_NOT_SUPPORTED,
            )
        result = result[0] if result else None
    if not isinstance(result, Mapping):
        raise ConnectorError("Kaseya BMS envelope has no ticket", reason=ConnectorReason.MISSING_ID)
    return CIDict(result)


def _envelope_api(d: CIDict) -> str:
    keys = d.lower_keys
    if not keys <= _ENVELOPE_KEYS:
        return ""
    if _V2_ENVELOPE <= keys:
        return "v2"
    if _V1_ENVELOPE <= keys:
        return "v1"
    return ""


def _webhook_event(d: CIDict) -> Event:
    name = d.text(*_EVENT_KEYS).lower()
    if "delet" in name:
        return Event.DELETED
    if "creat" in name or "add" in name or name == "new":
        return Event.CREATED
    return Event.UPDATED


def _nested_ticket(d: CIDict) -> CIDict | None:
    for key in _NESTED_KEYS:
        inner = d.obj(key)
        if inner is not None and _is_ticket(inner):
            return inner
    return None


def _trigger_id(d: CIDict) -> tuple[str, bool]:
    """(id, is_ticket_number) from a webhook body without the ticket, ("", False) if none."""
    scopes = [d] + [x for x in (d.obj(k) for k in _NESTED_KEYS) if x is not None]
    for scope in scopes:
        for key in ("TicketId", "Id"):
            value = as_id(scope.first(key))
            if value not in ("", "0"):
                return value, False
    for scope in scopes:
        value = as_id(scope.first("TicketNumber"))
        if value:
            return value, True
    return "", False


def _looks_like_trigger(d: CIDict) -> bool:
    """Strict enough for detection without a named source: an event key and a TicketId."""
    if not d.text(*_EVENT_KEYS):
        return False
    if _nested_ticket(d) is not None:
        return True
    scopes = [d] + [x for x in (d.obj(k) for k in _NESTED_KEYS) if x is not None]
    return any(as_id(s.first("TicketId")) not in ("", "0") for s in scopes)


def _read(d: CIDict, *, strict: bool) -> _Read | None:
    api = _envelope_api(d)
    if api:
        return _Read(_envelope_ticket(d, api), Event.SNAPSHOT, api)
    if _is_ticket(d):
        return _Read(d, Event.SNAPSHOT, "v2")
    if strict and not _looks_like_trigger(d):
        return None
    nested = _nested_ticket(d)
    if nested is not None:
        return _Read(nested, _webhook_event(d), "webhook")
    trigger_id, is_number = _trigger_id(d)
    if not trigger_id:
        return None
    return _Read(None, _webhook_event(d), "webhook", trigger_id, is_number)


def _envelope_matches(d: CIDict) -> bool:
    api = _envelope_api(d)
    if not api:
        return False
    result = d.first("Result")
    if isinstance(result, list) and result and isinstance(result[0], Mapping):
        return _is_ticket(CIDict(result[0]))
    if isinstance(result, Mapping):
        return _is_ticket(CIDict(result))
    # A failure envelope (no result) is BMS's too when it says Success:false.
    return api == "v2" and "success" in d.lower_keys


class KaseyaBmsConnector:
    """Kaseya BMS tickets (v2 and legacy v1) and its ticket webhooks."""

    source = Source.KASEYA_BMS

    def matches(self, doc: Mapping[str, Any]) -> bool:
        d = ci(doc)
        return _envelope_matches(d) or _is_ticket(d) or _looks_like_trigger(d)

    def identify(self, doc: Mapping[str, Any], raw: bytes) -> PayloadIdentity:
        d = ci(doc)
        read = _read(d, strict=False)
        if read is None:
            raise ConnectorError(
                "Kaseya BMS payload has no ticket and no ticket id",
                reason=ConnectorReason.MISSING_ID,
            )
        if read.ticket is None:
            return PayloadIdentity(self.source, read.trigger_id, payload_digest(d), read.event)
        external_id = as_id(read.ticket.first("Id"))
        if not external_id:
            raise ConnectorError("Kaseya BMS ticket has no Id", reason=ConnectorReason.MISSING_ID)
        return PayloadIdentity(
            self.source, external_id, _version(read.ticket) or payload_digest(d), read.event
        )

    def normalize(self, doc: Mapping[str, Any], picklists: Picklists) -> NormalizedTicket:
        d = ci(doc)
        identity = self.identify(d, b"")
        read = _read(d, strict=False)
        assert read is not None  # identify() raised otherwise
        extra: dict[str, Any] = {"api": read.api}
        if read.ticket is None:
            if read.trigger_id_is_number:
                extra["external_id_is_ticket_number"] = True
            return NormalizedTicket(
                source=self.source,
                external_id=identity.external_id,
                version=identity.version,
                event=identity.event,
                external_number=identity.external_id if read.trigger_id_is_number else "",
                is_trigger=identity.event is not Event.DELETED,
                extra=extra,
            )
        return NormalizedTicket(
            source=self.source,
            external_id=identity.external_id,
            version=identity.version,
            event=identity.event,
            extra=extra,
            **_ticket_fields(read.ticket, picklists, extra),
        )


def _version(t: CIDict) -> str:
    stamps = [s for s in (t.text("ModifiedOn"), t.text("LastActivityUpdate")) if s]
    return max(stamps) if stamps else ""


def _pair(t: CIDict, stem: str, table: str, picklists: Picklists, extra: dict[str, Any]) -> str:
    """``<stem>Name``, else ``<stem>Id`` through the picklist."""
    return resolve(picklists, table, t.first(f"{stem}Id"), extra, name=t.text(f"{stem}Name"))


def _ticket_fields(t: CIDict, picklists: Picklists, extra: dict[str, Any]) -> dict[str, Any]:
    issue = _pair(t, "IssueType", "issue_type", picklists, extra)
    sub_issue = _pair(t, "SubIssueType", "sub_issue_type", picklists, extra)
    for key, value in (
        ("ticket_type", _pair(t, "Type", "ticket_type", picklists, extra)),
        ("source_name", _pair(t, "Source", "source", picklists, extra)),
        ("location", t.text("LocationName", "AccountLocation")),
        ("hardware_asset", t.text("HardwareAssetName")),
        ("sla", t.text("SLAName")),
        ("due_at", t.text("DueDate")),
        ("rmm_ticket_reference", t.text("RmmTicketReference")),
        ("occurrence_count", as_text(t.first("OccurrenceCount"))),
    ):
        if value:
            extra[key] = value
    return {
        "title": t.text("Title"),
        "description": t.text("Details", "Description"),
        "external_number": t.text("TicketNumber"),
        "company": _pair(t, "Account", "company", picklists, extra),
        "contact_name": _pair(t, "Contact", "contact", picklists, extra),
        "contact_email": t.text("ContactEmail"),
        "status": _pair(t, "Status", "status", picklists, extra),
        "priority": _pair(t, "Priority", "priority", picklists, extra),
        "queue": _pair(t, "Queue", "queue", picklists, extra),
        "assignee": _pair(t, "Assignee", "assignee", picklists, extra),
        "category": join_category(issue, sub_issue),
        "created_at": t.text("OpenDate", "CreatedOn"),
        "updated_at": _version(t),
    }
