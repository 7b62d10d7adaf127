"""Parsing, shape detection and identity over every reference example and demo payload."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from connectors.contract import Event, Source
from connectors.errors import ConnectorError, ConnectorReason
from connectors.registry import (
    connector_for,
    detect_source,
    identify,
    normalize_payload,
    parse_payload,
)

# Every ticket-bearing example in ../shared/reference/psa and the source it must be detected as.
REFERENCE_TICKETS = {
    "autotask_ticket.json": Source.AUTOTASK,
    "autotask_webhook_ticket_create.json": Source.AUTOTASK,
    "autotask_webhook_ticket_update.json": Source.AUTOTASK,
    "autotask_webhook_ticket_delete.json": Source.AUTOTASK,
    "autotask_webhook_ticket_create.raw_body.txt": Source.AUTOTASK,
    "connectwise_ticket.json": Source.CONNECTWISE,
    "connectwise_callback_ticket.json": Source.CONNECTWISE,
    "connectwise_callback_ticket_deleted.json": Source.CONNECTWISE,
    "connectwise_callback_ticket_deleted.raw_body.txt": Source.CONNECTWISE,
    "kaseya_bms_ticket.json": Source.KASEYA_BMS,
    "kaseya_bms_ticket_search_response.json": Source.KASEYA_BMS,
    "kaseya_bms_legacy_v1_ticket.json": Source.KASEYA_BMS,
    "datto_rmm_alert.json": Source.DATTO_RMM,
    "datto_rmm_webhook_alert.json": Source.DATTO_RMM,
}
# Requests OMEGA sends, token answers, VSA alarms: no connector may claim them.
REFERENCE_NOT_TICKETS = [
    "autotask_ticket_query_request.json",
    "autotask_ticketwebhooks_create_request.json",
    "connectwise_system_callback_create_request.json",
    "connectwise_ticket_create_request.json",
    "kaseya_bms_ticket_create_request.json",
    "kaseya_bms_ticket_search_request.json",
    "kaseya_bms_token_response.json",
    "kaseya_bms_webhook_configuration_request.json",
    "kaseya_vsa_alarm_soap_getalarm.json",
    "kaseya_vsa_alarms_rest_response_UNCONFIRMED.json",
]
DEMO_PAYLOADS = {
    "autotask_account_lockout.json": Source.AUTOTASK,
    "autotask_webhook_printer_jam.json": Source.AUTOTASK,
    "connectwise_callback_vpn_access.json": Source.CONNECTWISE,
    "connectwise_outlook_search.json": Source.CONNECTWISE,
    "kaseya_bms_new_hire_laptop.json": Source.KASEYA_BMS,
    "kaseya_bms_v1_file_server_down.json": Source.KASEYA_BMS,
    "datto_rmm_disk_space.json": Source.DATTO_RMM,
    "datto_rmm_webhook_server_offline.json": Source.DATTO_RMM,
    "generic_shared_mailbox.json": Source.GENERIC,
}


@pytest.mark.parametrize(("name", "source"), sorted(REFERENCE_TICKETS.items()))
def test_detects_every_reference_example(
    psa_raw: Callable[[str], bytes], name: str, source: Source
) -> None:
    doc, identity = identify(psa_raw(name))
    assert detect_source(doc) is source
    assert identity.source is source
    assert identity.external_id
    assert identity.version


@pytest.mark.parametrize("name", REFERENCE_NOT_TICKETS)
def test_refuses_reference_payloads_that_are_not_tickets(
    psa_raw: Callable[[str], bytes], name: str
) -> None:
    with pytest.raises(ConnectorError) as err:
        identify(psa_raw(name))
    assert err.value.reason == ConnectorReason.UNKNOWN_SHAPE


def test_refuses_a_json_array_as_not_an_object(psa_raw: Callable[[str], bytes]) -> None:
    with pytest.raises(ConnectorError) as err:
        identify(psa_raw("kaseya_bms_rmm_integration_ticket_request.json"))
    assert err.value.reason == ConnectorReason.NOT_AN_OBJECT


@pytest.mark.parametrize(("name", "source"), sorted(DEMO_PAYLOADS.items()))
def test_detects_and_normalizes_every_demo_payload(
    demo_raw: Callable[[str], bytes], name: str, source: Source
) -> None:
    raw = demo_raw(name)
    doc, identity = identify(raw)
    ticket = normalize_payload(raw, None)
    assert identity.source is source
    assert (ticket.external_id, ticket.version, ticket.event) == (
        identity.external_id,
        identity.version,
        identity.event,
    )
    assert ticket.title and ticket.description
    assert not ticket.is_trigger
    # The same payload under its named source gives the same identity.
    assert identify(raw, source)[1] == identity


def test_demo_payloads_are_all_tested() -> None:
    demo_dir = Path(__file__).resolve().parents[2] / "demo" / "payloads"
    assert sorted(p.name for p in demo_dir.glob("*.json")) == sorted(DEMO_PAYLOADS)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", ConnectorReason.MALFORMED_JSON),
        (b'{"id": 1,', ConnectorReason.MALFORMED_JSON),
        (b"\xff\xfe{}", ConnectorReason.MALFORMED_JSON),
        (b'{"id": NaN}', ConnectorReason.MALFORMED_JSON),
        (b"[1, 2]", ConnectorReason.NOT_AN_OBJECT),
        (b'"text"', ConnectorReason.NOT_AN_OBJECT),
        (b"null", ConnectorReason.NOT_AN_OBJECT),
        (b'{"hello": "world"}', ConnectorReason.UNKNOWN_SHAPE),
    ],
)
def test_refuses_bad_payloads_with_a_reason(raw: bytes, reason: ConnectorReason) -> None:
    with pytest.raises(ConnectorError) as err:
        identify(raw)
    assert err.value.reason == reason
    assert err.value.http_status == 400


def test_malformed_json_error_gives_the_position() -> None:
    with pytest.raises(ConnectorError) as err:
        parse_payload(b'{\n  "id": 1,\n  "title": }')
    assert err.value.metadata["line"] == "3"
    assert err.value.metadata["column"] == "12"
    assert err.value.metadata["offset"] == "24"


def test_parse_accepts_a_utf8_byte_order_mark() -> None:
    assert parse_payload(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}


def test_ambiguous_shape_is_refused() -> None:
    # A ConnectWise ticket that also carries Datto's alert id: two vendors claim it.
    raw = b'{"id": 5, "summary": "x", "board": {"id": 1}, "alertUid": "a-1"}'
    with pytest.raises(ConnectorError) as err:
        identify(raw)
    assert err.value.reason == ConnectorReason.AMBIGUOUS_SHAPE
    assert set(err.value.metadata["candidates"].split(",")) == {"connectwise", "datto_rmm"}
    # Naming the source resolves it.
    assert identify(raw, Source.CONNECTWISE)[1].external_id == "5"


def test_named_source_refuses_another_vendors_shape(psa_raw: Callable[[str], bytes]) -> None:
    with pytest.raises(ConnectorError) as err:
        identify(psa_raw("connectwise_ticket.json"), Source.AUTOTASK)
    assert err.value.reason == ConnectorReason.WRONG_SOURCE
    assert err.value.metadata["detected"] == "connectwise"


def test_named_source_accepts_its_string_value(psa_raw: Callable[[str], bytes]) -> None:
    _, identity = identify(psa_raw("kaseya_bms_ticket.json"), "kaseya_bms")
    assert identity.source is Source.KASEYA_BMS


def test_connector_for_every_source_and_refuses_unknown() -> None:
    for source in Source:
        assert connector_for(source).source is source
    with pytest.raises(ConnectorError) as err:
        connector_for("halo_psa")
    assert err.value.reason == ConnectorReason.UNKNOWN_SHAPE


def test_digest_version_is_stable_for_the_same_payload() -> None:
    raw = b'{"id": "42", "title": "Printer offline"}'
    first = identify(raw)[1]
    assert identify(raw)[1] == first
    assert first.version.startswith("sha256:")
    assert first.event is Event.CREATED
    changed = identify(b'{"id": "42", "title": "Printer offline again"}')[1]
    assert changed.version != first.version
    # normalize (which has only the parsed doc) agrees with identify (which has the bytes).
    assert normalize_payload(raw, None).version == first.version


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": 1, "b": [1.5, -2e3, true, null], "c": {"d": "\\u00fc\\u20ac"}}',
        '{"title": "Drucker im 2. Stock – geht nicht", "id": "x"}'.encode(),
        b'{"a": 1, "a": 2}',  # a repeated key: the last one wins
        b'{"big": 123456789012345678901234567890}',  # beyond 64 bits: the standard library reads it
        b'{"big": [1, -98765432109876543210]}',
        b'{"note": "call 1234567890123456789012", "id": 12345678901234567}',
        b'{"lone": "\\ud800"}',  # a lone surrogate escape: the standard library reads it
        b'{"huge": 1e400}',
    ],
)
def test_the_fast_parser_reads_what_the_standard_library_reads(raw: bytes) -> None:
    import json

    doc, expected = parse_payload(raw), json.loads(raw.decode("utf-8"))
    assert doc == expected
    assert [type(v) for v in doc.values()] == [type(v) for v in expected.values()]


def test_deep_nesting_is_refused_as_malformed() -> None:
    with pytest.raises(ConnectorError) as err:
        parse_payload(b'{"a":' * 5000 + b"1" + b"}" * 5000)
    assert err.value.reason == ConnectorReason.MALFORMED_JSON
