"""OMEGA's own simple ticket shape, for sources without a connector (scripts, e-mail bridges).

``{"id": "...", "title": "...", "description": "...", optional "priority", "status", "queue",
"company", "contact_name", "contact_email", "category", "assignee", "created_at", "updated_at",
"version", "event"}``. Every value is a string (numbers are accepted for ``id``/``version``);
``event`` is ``created`` (default), ``updated``, ``deleted`` or ``snapshot``. Keys are exact
(lower-case); a document with any other key is not the generic shape, which keeps detection
unambiguous. Without ``version`` the version is a digest of the payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.contract import Event, NormalizedTicket, PayloadIdentity, Picklists, Source
from connectors.errors import ConnectorError, ConnectorReason
from connectors.fields import as_id, as_text, payload_digest

_EVENTS = {e.value: e for e in Event}  # a dict lookup, not Event(name) (raises when unknown)

GENERIC_KEYS: frozenset[str] = frozenset(
    {
        "id",
        "title",
        "description",
        "priority",
        "status",
        "queue",
        "company",
        "contact_name",
        "contact_email",
        "category",
        "assignee",
        "created_at",
        "updated_at",
        "version",
        "event",
    }
)
_TEXT_FIELDS = (
    "title",
    "description",
    "priority",
    "status",
    "queue",
    "company",
    "contact_name",
    "contact_email",
    "category",
    "assignee",
    "created_at",
    "updated_at",
)


class GenericConnector:
    """The documented generic JSON shape."""

    source = Source.GENERIC

    def matches(self, doc: Mapping[str, Any]) -> bool:
        keys = set(doc)
        return "id" in keys and bool(keys & {"title", "description"}) and keys <= GENERIC_KEYS

    def identify(self, doc: Mapping[str, Any], raw: bytes) -> PayloadIdentity:
        external_id = as_id(doc.get("id"))
        if not external_id:
            raise ConnectorError("generic ticket has no id", reason=ConnectorReason.MISSING_ID)
        event_name = as_text(doc.get("event")).lower() or Event.CREATED.value
        event = _EVENTS.get(event_name)
        if event is None:
            raise ConnectorError(
                "generic ticket event must be created, updated, deleted or snapshot",
                reason=ConnectorReason.MALFORMED_FIELD,
                field="event",
            ) from None
        version = as_id(doc.get("version")) or payload_digest(doc)
        return PayloadIdentity(self.source, external_id, version, event)

    def normalize(self, doc: Mapping[str, Any], picklists: Picklists) -> NormalizedTicket:
        identity = self.identify(doc, b"")
        unknown = set(doc) - GENERIC_KEYS
        if unknown:
            raise ConnectorError(
                "generic ticket has keys outside the documented shape",
                reason=ConnectorReason.MALFORMED_FIELD,
                field=",".join(sorted(unknown))[:100],
            )
        texts: dict[str, Any] = {name: as_text(doc.get(name)) for name in _TEXT_FIELDS}
        return NormalizedTicket(
            source=self.source,
            external_id=identity.external_id,
            version=identity.version,
            event=identity.event,
            **texts,
        )
