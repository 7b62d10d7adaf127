"""OMEGA's generic ticket shape."""

from __future__ import annotations

import pytest

from connectors.contract import Event, Picklists, Source
from connectors.errors import ConnectorError, ConnectorReason
from connectors.generic import GenericConnector
from connectors.registry import identify


def test_generic_ticket_fields() -> None:
    raw = (
        b'{"id": 42, "title": "Teams audio", "description": "no sound", "priority": "Low",'
        b' "queue": "Service Desk", "contact_email": "a@b.example", "version": 3,'
        b' "event": "updated"}'
    )
    doc, identity = identify(raw)
    assert (identity.source, identity.external_id, identity.version, identity.event) == (
        Source.GENERIC,
        "42",
        "3",
        Event.UPDATED,
    )
    ticket = GenericConnector().normalize(doc, Picklists())
    assert (ticket.title, ticket.description, ticket.priority, ticket.queue) == (
        "Teams audio",
        "no sound",
        "Low",
        "Service Desk",
    )
    assert ticket.contact_email == "a@b.example"


def test_generic_rejects_extra_keys_when_named() -> None:
    assert not GenericConnector().matches({"id": 1, "title": "t", "colour": "red"})
    with pytest.raises(ConnectorError) as err:
        GenericConnector().normalize({"id": 1, "title": "t", "colour": "red"}, Picklists())
    assert err.value.reason == ConnectorReason.MALFORMED_FIELD


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"id": "", "title": "t"}', ConnectorReason.MISSING_ID),
        (b'{"id": "1", "title": "t", "event": "exploded"}', ConnectorReason.MALFORMED_FIELD),
    ],
)
def test_generic_refusals(raw: bytes, reason: ConnectorReason) -> None:
    with pytest.raises(ConnectorError) as err:
        identify(raw, Source.GENERIC)
    assert err.value.reason == reason
