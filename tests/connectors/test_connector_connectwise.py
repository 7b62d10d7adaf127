"""ConnectWise: /service/tickets records and ticket callbacks (Entity as a JSON string)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from connectors.connectwise import ConnectWiseConnector, callback_key_url
from connectors.contract import Event, Picklists, Source
from connectors.errors import ConnectorError, ConnectorReason
from connectors.registry import identify


def test_ticket_identity_and_fields(psa_raw: Callable[[str], bytes]) -> None:
    doc, identity = identify(psa_raw("connectwise_ticket.json"))
    assert (identity.external_id, identity.version, identity.event) == (
        "69",
        "2016-03-08T21:59:20Z",
        Event.SNAPSHOT,
    )
    ticket = ConnectWiseConnector().normalize(doc, Picklists())
    assert ticket.title == "Schedule and Execute Conversion"
    assert ticket.description == ""  # GET omits initialDescription
    assert (ticket.status, ticket.priority, ticket.queue) == (
        "New",
        "Priority 3 - Normal Response",
        "Service A",
    )
    assert ticket.company == "TestCompany"
    assert (ticket.contact_name, ticket.contact_email) == (
        "Gregg Kegle",
        "gregg.kegle@wildeagle.com",
    )
    assert ticket.assignee == "User One"
    assert ticket.category == "Server / Repair"
    assert ticket.created_at == "2005-05-27T17:30:19Z"
    assert ticket.extra["item"] == "Fix it"


def test_callback_entity_string_is_parsed(psa_raw: Callable[[str], bytes]) -> None:
    doc, identity = identify(psa_raw("connectwise_callback_ticket.json"))
    assert (identity.external_id, identity.version, identity.event) == (
        "69",
        "2016-03-08T21:59:20Z",
        Event.UPDATED,
    )
    ticket = ConnectWiseConnector().normalize(doc, Picklists())
    assert ticket.title == "Schedule and Execute Conversion"
    assert ticket.contact_name == "Arnie Bellini"
    assert ticket.extra["callback_id"] == "26567"
    assert not ticket.is_trigger


def test_callback_and_ticket_of_the_same_revision_share_identity(
    psa_raw: Callable[[str], bytes],
) -> None:
    _, from_callback = identify(psa_raw("connectwise_callback_ticket.json"))
    _, from_get = identify(psa_raw("connectwise_ticket.json"))
    assert (from_callback.external_id, from_callback.version) == (
        from_get.external_id,
        from_get.version,
    )


def test_deleted_callback_with_null_entity(psa_raw: Callable[[str], bytes]) -> None:
    doc, identity = identify(psa_raw("connectwise_callback_ticket_deleted.json"))
    assert identity.event is Event.DELETED
    assert identity.external_id == "69"
    assert identity.version.startswith("sha256:")
    ticket = ConnectWiseConnector().normalize(doc, Picklists())
    assert not ticket.is_trigger
    assert ticket.title == ""


def test_added_callback_with_object_entity_and_odd_casing(
    psa_raw: Callable[[str], bytes], demo_raw: Callable[[str], bytes]
) -> None:
    demo = json.loads(demo_raw("connectwise_callback_vpn_access.json"))
    doc = {
        "messageID": demo["MessageId"],
        "ACTION": "added",
        "type": "Ticket",
        "id": demo["ID"],
        "entity": json.loads(demo["Entity"]),
        "metadata": demo["Metadata"],
    }
    ticket = ConnectWiseConnector().normalize(doc, Picklists())
    assert ticket.event is Event.CREATED
    assert ticket.title == "VPN access for new contractor"
    assert ticket.description.startswith("Please set up remote VPN access")
    assert ticket.category == "Access / VPN"
    assert callback_key_url(doc).startswith("https://api-na.myconnectwise.net/")


def test_callback_without_entity_is_a_trigger() -> None:
    doc = {"Action": "updated", "Type": "ticket", "ID": 12, "Entity": None, "MessageId": "m"}
    ticket = ConnectWiseConnector().normalize(doc, Picklists())
    assert ticket.is_trigger
    assert ticket.external_id == "12"


def test_reference_ids_resolve_through_picklists() -> None:
    doc = {"id": 3, "summary": "s", "board": {"id": 4}, "priority": {"id": 8}, "_info": {}}
    picklists = Picklists({"queue": {"4": "Helpdesk"}, "priority": {"8": "P1"}})
    ticket = ConnectWiseConnector().normalize(doc, picklists)
    assert (ticket.queue, ticket.priority) == ("Helpdesk", "P1")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"Type": "company"}, ConnectorReason.NOT_A_TICKET),
        ({"Action": "merged"}, ConnectorReason.MALFORMED_FIELD),
        ({"Entity": "{not json"}, ConnectorReason.MALFORMED_FIELD),
        ({"Entity": "[1, 2]"}, ConnectorReason.MALFORMED_FIELD),
        ({"ID": None, "Entity": None}, ConnectorReason.MISSING_ID),
    ],
)
def test_callback_refusals_have_reasons(
    psa_raw: Callable[[str], bytes], change: dict[str, object], reason: ConnectorReason
) -> None:
    doc = json.loads(psa_raw("connectwise_callback_ticket.json")) | change
    with pytest.raises(ConnectorError) as err:
        identify(json.dumps(doc).encode(), Source.CONNECTWISE)
    assert err.value.reason == reason
