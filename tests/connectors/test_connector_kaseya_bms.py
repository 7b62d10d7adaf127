"""Kaseya BMS: v2 envelope and bare TicketListDto, legacy v1, webhook triggers, key casing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from connectors.contract import Event, Picklists, Source
from connectors.errors import ConnectorError, ConnectorReason
from connectors.kaseya_bms import KaseyaBmsConnector
from connectors.registry import detect_source, identify


def _camel(value: Any) -> Any:
    """Re-key a document the way BMS may send it on the wire (camelCase)."""
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def test_v2_envelope_ticket(psa_raw: Callable[[str], bytes]) -> None:
    doc, identity = identify(psa_raw("kaseya_bms_ticket.json"))
    assert (identity.external_id, identity.version, identity.event) == (
        "48213",
        "2025-03-04T14:35:44",
        Event.SNAPSHOT,
    )
    ticket = KaseyaBmsConnector().normalize(doc, Picklists())
    assert ticket.title == "Outlook keeps prompting for password"
    assert ticket.description.startswith("User reports Outlook prompts")  # from Details
    assert ticket.external_number == "T20250304.0031"
    assert (ticket.company, ticket.contact_name, ticket.contact_email) == (
        "Acme Dental Group",
        "Jane Doe",
        "jane.doe@acmedental.example",
    )
    assert (ticket.status, ticket.priority, ticket.queue, ticket.assignee) == (
        "New",
        "High",
        "Service Desk",
        "Chris Tech",
    )
    assert ticket.category == "Email / Outlook"
    assert ticket.extra["ticket_type"] == "Incident"
    assert ticket.created_at == "2025-03-04T14:21:00"
    assert ticket.extra["api"] == "v2"


def test_camel_case_keys_normalize_the_same(psa_raw: Callable[[str], bytes]) -> None:
    pascal = json.loads(psa_raw("kaseya_bms_ticket.json"))
    camel = _camel(pascal)
    assert "result" in camel and "ticketNumber" in camel["result"]
    connector = KaseyaBmsConnector()
    assert detect_source(camel) is Source.KASEYA_BMS
    assert connector.normalize(camel, Picklists()) == connector.normalize(pascal, Picklists())


def test_bare_ticket_list_dto_as_the_poller_sends_it(psa_raw: Callable[[str], bytes]) -> None:
    page = json.loads(psa_raw("kaseya_bms_ticket_search_response.json"))
    bare = json.dumps(page["Result"][0]).encode()
    doc, identity = identify(bare)
    assert identity.source is Source.KASEYA_BMS
    assert (identity.external_id, identity.version) == ("48213", "2025-03-04T14:35:44")
    _, from_page = identify(psa_raw("kaseya_bms_ticket_search_response.json"))
    assert from_page == identity
    assert KaseyaBmsConnector().normalize(doc, Picklists()).title.startswith("Outlook")


def test_page_of_several_tickets_is_refused(psa_raw: Callable[[str], bytes]) -> None:
    page = json.loads(psa_raw("kaseya_bms_ticket_search_response.json"))
    page["Result"].append(dict(page["Result"][0], Id=48214))
    with pytest.raises(ConnectorError) as err:
        identify(json.dumps(page).encode())
    assert err.value.reason == ConnectorReason.BATCH_NOT_SUPPORTED


def test_success_false_is_a_source_error() -> None:
    raw = json.dumps(
        {"success": False, "error": {"code": 401, "message": "Token expired"}, "result": None}
    ).encode()
    with pytest.raises(ConnectorError) as err:
        identify(raw)
    assert err.value.reason == ConnectorReason.SOURCE_ERROR
    assert "Token expired" in err.value.message


def test_legacy_v1_ticket(psa_raw: Callable[[str], bytes]) -> None:
    doc, identity = identify(psa_raw("kaseya_bms_legacy_v1_ticket.json"))
    assert identity.external_id == "17"
    assert identity.version.startswith("sha256:")  # v1 carries no modification time
    ticket = KaseyaBmsConnector().normalize(doc, Picklists())
    assert (ticket.title, ticket.description, ticket.external_number) == (
        "Test Ticket",
        "This is a test ticket.",
        "1-234",
    )
    assert ticket.company == "AccountName"
    assert ticket.extra["api"] == "v1"


def test_legacy_v1_failure_is_a_source_error(psa_raw: Callable[[str], bytes]) -> None:
    doc = json.loads(psa_raw("kaseya_bms_legacy_v1_ticket.json"))
    doc.update(ResponseCode=1, Status="Error", Error="Ticket not found", Result=None)
    with pytest.raises(ConnectorError) as err:
        identify(json.dumps(doc).encode(), Source.KASEYA_BMS)
    assert err.value.reason == ConnectorReason.SOURCE_ERROR


def test_ids_only_resolve_through_picklists() -> None:
    doc = {
        "Id": 9,
        "Title": "t",
        "Details": "d",
        "StatusId": 1,
        "PriorityId": 2,
        "QueueId": 5,
        "IssueTypeId": 14,
        "AccountId": 2528,
    }
    picklists = Picklists(
        {
            "status": {"1": "New"},
            "priority": {"2": "High"},
            "queue": {"5": "Service Desk"},
            "issue_type": {"14": "Email"},
        }
    )
    ticket = KaseyaBmsConnector().normalize(doc, picklists)
    assert (ticket.status, ticket.priority, ticket.queue, ticket.category) == (
        "New",
        "High",
        "Service Desk",
        "Email",
    )
    assert ticket.company == "" and ticket.extra["company_id"] == "2528"


def test_version_is_the_later_of_modified_and_last_activity() -> None:
    doc = {
        "Id": 1,
        "Details": "d",
        "ModifiedOn": "2026-01-01T10:00:00",
        "LastActivityUpdate": "2026-01-01T11:30:00",
    }
    assert KaseyaBmsConnector().identify(doc, b"").version == "2026-01-01T11:30:00"


def test_webhook_with_only_an_id_is_a_trigger() -> None:
    raw = b'{"EventName": "Ticket Created", "TicketId": 48213, "EventDate": "2026-11-24T10:00:00Z"}'
    doc, identity = identify(raw)  # detected without naming the source
    assert identity.source is Source.KASEYA_BMS
    assert (identity.external_id, identity.event) == ("48213", Event.CREATED)
    ticket = KaseyaBmsConnector().normalize(doc, Picklists())
    assert ticket.is_trigger and ticket.title == ""


def test_opaque_webhook_under_the_named_source() -> None:
    _, identity = identify(b'{"data": {"id": "77"}, "type": "ticket.updated"}', Source.KASEYA_BMS)
    assert (identity.external_id, identity.event) == ("77", Event.UPDATED)
    _, by_number = identify(b'{"Event": "Deleted", "TicketNumber": "T1"}', Source.KASEYA_BMS)
    assert (by_number.external_id, by_number.event) == ("T1", Event.DELETED)


def test_webhook_carrying_the_ticket_is_read_as_the_ticket(
    psa_raw: Callable[[str], bytes],
) -> None:
    ticket = json.loads(psa_raw("kaseya_bms_ticket.json"))["Result"]
    raw = json.dumps({"Event": "Ticket Updated", "Data": ticket}).encode()
    doc, identity = identify(raw)
    assert (identity.external_id, identity.version, identity.event) == (
        "48213",
        "2025-03-04T14:35:44",
        Event.UPDATED,
    )
    normalized = KaseyaBmsConnector().normalize(doc, Picklists())
    assert not normalized.is_trigger and normalized.priority == "High"


def test_webhook_without_any_id_is_refused() -> None:
    with pytest.raises(ConnectorError) as err:
        identify(b'{"Event": "Ticket Created"}', Source.KASEYA_BMS)
    assert err.value.reason == ConnectorReason.MISSING_ID
