"""Autotask: REST entity (wrapped/bare) and TicketWebhooks deliveries."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from connectors.autotask import AutotaskConnector
from connectors.contract import Event, Picklists, Source
from connectors.errors import ConnectorError, ConnectorReason
from connectors.picklists import picklists_from_config
from connectors.registry import identify

TENANT_PICKLISTS = {
    "autotask": {
        "priority": {"1": "High", "2": "Medium", "3": "Low", "4": "Critical"},
        "status": {"1": "New", "5": "Complete", "10": "Waiting Customer"},
        "queue": {"29682833": "Service Desk"},
        "issue_type": {"10": "Maintenance", "7": "Account"},
        "sub_issue_type": {"136": "Health check", "204": "Lockout"},
        "ticket_type": {"1": "Service Request", "2": "Incident"},
        "source": {"6": "Monitoring", "4": "Email"},
    },
    "connectwise": {"priority": {"1": "Not for Autotask"}},
}


def _picklists() -> Picklists:
    return picklists_from_config(TENANT_PICKLISTS, Source.AUTOTASK)


def test_entity_identity_uses_last_activity_when_untracked(psa_raw: Callable[[str], bytes]) -> None:
    doc, identity = identify(psa_raw("autotask_ticket.json"), Source.AUTOTASK)
    assert (identity.external_id, identity.version, identity.event) == (
        "100",
        "2019-09-23T11:00:00.000Z",
        Event.SNAPSHOT,
    )


def test_entity_identity_prefers_tracked_modification_time() -> None:
    doc = {
        "id": 7,
        "title": "t",
        "companyID": 1,
        "lastActivityDate": "2026-01-01T00:00:00Z",
        "lastTrackedModificationDateTime": "2026-01-02T00:00:00Z",
    }
    assert AutotaskConnector().identify(doc, b"").version == "2026-01-02T00:00:00Z"


def test_entity_resolves_picklists_from_tenant_config(psa_raw: Callable[[str], bytes]) -> None:
    doc, _ = identify(psa_raw("autotask_ticket.json"))
    ticket = AutotaskConnector().normalize(doc, _picklists())
    assert ticket.title == "Monthy Services Checkup*"
    assert ticket.description == "Monthy Services Checkup"
    assert ticket.external_number == "T20120604.0002.005"
    assert (ticket.priority, ticket.status, ticket.queue) == (
        "Low",
        "Waiting Customer",
        "Service Desk",
    )
    assert ticket.category == "Maintenance / Health check"
    assert ticket.extra["ticket_type"] == "Service Request"
    assert ticket.extra["source_name"] == "Monitoring"
    assert ticket.created_at == "2019-08-18T01:00:00.000Z"
    assert not ticket.is_trigger


def test_entity_without_picklists_keeps_ids_in_extra(psa_raw: Callable[[str], bytes]) -> None:
    doc, _ = identify(psa_raw("autotask_ticket.json"))
    ticket = AutotaskConnector().normalize(doc, Picklists())
    assert (ticket.priority, ticket.status, ticket.queue, ticket.category) == ("", "", "", "")
    assert ticket.extra["priority_id"] == "3"
    assert ticket.extra["status_id"] == "10"
    assert ticket.extra["queue_id"] == "29682833"


def test_bare_and_wrapped_entity_normalize_alike(psa_raw: Callable[[str], bytes]) -> None:
    wrapped = json.loads(psa_raw("autotask_ticket.json"))
    bare = wrapped["item"]
    connector = AutotaskConnector()
    assert connector.matches(bare) and connector.matches(wrapped)
    assert connector.normalize(bare, _picklists()) == connector.normalize(wrapped, _picklists())


def test_webhook_create_without_title_is_a_trigger(psa_raw: Callable[[str], bytes]) -> None:
    doc, identity = identify(psa_raw("autotask_webhook_ticket_create.json"))
    assert identity.external_id == "351181"
    assert identity.version == "1@a1da62a4-2c49-40a8-8183-69994ce5b3eb"
    assert identity.event is Event.CREATED
    ticket = AutotaskConnector().normalize(doc, _picklists())
    assert ticket.is_trigger
    assert ticket.external_number == "T20250915.0001"
    assert ticket.extra["person_id"] == "30691780"
    assert ticket.updated_at == "2025-09-15T14:57:50Z"


def test_webhook_update_reads_string_picklist_values(psa_raw: Callable[[str], bytes]) -> None:
    doc, identity = identify(psa_raw("autotask_webhook_ticket_update.json"))
    assert identity.event is Event.UPDATED
    ticket = AutotaskConnector().normalize(doc, _picklists())
    assert ticket.status == "Complete"
    assert ticket.is_trigger


def test_webhook_delete_is_deleted_and_not_a_trigger(psa_raw: Callable[[str], bytes]) -> None:
    doc, identity = identify(psa_raw("autotask_webhook_ticket_delete.json"))
    assert identity.event is Event.DELETED
    assert identity.version == "3@a1da62a4-2c49-40a8-8183-69994ce5b3eb"
    assert not AutotaskConnector().normalize(doc, Picklists()).is_trigger


def test_webhook_with_title_in_fields_is_complete(demo_raw: Callable[[str], bytes]) -> None:
    doc, _ = identify(demo_raw("autotask_webhook_printer_jam.json"))
    ticket = AutotaskConnector().normalize(doc, _picklists())
    assert not ticket.is_trigger
    assert ticket.title == "Reception printer shows offline for everyone"
    assert "Brother printer" in ticket.description
    assert (ticket.priority, ticket.status, ticket.queue) == ("Medium", "New", "Service Desk")


def test_webhook_keys_are_case_insensitive() -> None:
    doc = {
        "action": "update",
        "guid": "g-1",
        "entityType": "ticket",
        "ID": "77",
        "fields": {"title": "VPN drops", "DESCRIPTION": "every hour", "priority": 4},
        "sequenceNumber": "9",
        "PersonId": 5,
    }
    connector = AutotaskConnector()
    assert connector.matches(doc)
    ticket = connector.normalize(doc, _picklists())
    assert (ticket.external_id, ticket.version, ticket.event) == ("77", "9@g-1", Event.UPDATED)
    assert (ticket.title, ticket.description, ticket.priority) == (
        "VPN drops",
        "every hour",
        "Critical",
    )
    assert ticket.extra["person_id"] == "5"


def test_webhook_without_sequence_number_uses_a_digest() -> None:
    doc = {"Action": "Update", "Guid": "g", "EntityType": "Ticket", "Id": 1, "Fields": {}}
    version = AutotaskConnector().identify(doc, b"").version
    assert version.startswith("sha256:")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"Action": "Deactivated"}, ConnectorReason.NOT_A_TICKET),
        ({"EntityType": "TicketNote"}, ConnectorReason.NOT_A_TICKET),
        ({"EntityType": "Contact"}, ConnectorReason.NOT_A_TICKET),
        ({"Action": "Merge"}, ConnectorReason.MALFORMED_FIELD),
        ({"Id": None}, ConnectorReason.MISSING_ID),
    ],
)
def test_webhook_refusals_have_reasons(
    psa_raw: Callable[[str], bytes], change: dict[str, object], reason: ConnectorReason
) -> None:
    doc = json.loads(psa_raw("autotask_webhook_ticket_update.json")) | change
    with pytest.raises(ConnectorError) as err:
        identify(json.dumps(doc).encode(), Source.AUTOTASK)
    assert err.value.reason == reason
