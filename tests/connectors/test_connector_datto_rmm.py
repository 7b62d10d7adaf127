"""Datto RMM: API Alert objects and the community webhook template."""

from __future__ import annotations

import json
from collections.abc import Callable

from connectors.contract import Event, Picklists
from connectors.datto_rmm import DattoRmmConnector
from connectors.registry import identify


def test_api_alert(psa_raw: Callable[[str], bytes]) -> None:
    doc, identity = identify(psa_raw("datto_rmm_alert.json"))
    assert (identity.external_id, identity.version, identity.event) == (
        "b0f6a3e2-55a0-4b8e-9d10-2a1f0c3d4e5f",
        "2025-03-04T13:58:12Z",
        Event.SNAPSHOT,
    )
    alert = DattoRmmConnector().normalize(doc, Picklists())
    assert alert.alert_severity == "High"
    assert alert.title == "Disk usage alert on ACME-SRV-01: C: free space 7.8% (threshold 10%)"
    assert "freeSpace: 7.8" in alert.description
    assert (alert.company, alert.category, alert.status) == (
        "Acme Dental Group",
        "Disk usage",
        "Open",
    )
    assert alert.extra["device_name"] == "ACME-SRV-01"


def test_resolved_api_alert_has_a_new_version(psa_raw: Callable[[str], bytes]) -> None:
    doc = json.loads(psa_raw("datto_rmm_alert.json")) | {
        "resolved": True,
        "resolvedOn": "2025-03-04T15:00:00Z",
    }
    alert = DattoRmmConnector().normalize(doc, Picklists())
    assert alert.version == "2025-03-04T13:58:12Z:resolved"
    assert (alert.status, alert.updated_at) == ("Resolved", "2025-03-04T15:00:00Z")


def test_webhook_template(psa_raw: Callable[[str], bytes]) -> None:
    doc, identity = identify(psa_raw("datto_rmm_webhook_alert.json"))
    assert identity.event is Event.CREATED
    alert = DattoRmmConnector().normalize(doc, Picklists())
    assert alert.title == "Disk usage on C: exceeded threshold"
    assert alert.company == "Acme Dental Group"
    assert alert.extra["platform"] == "merlot"
    assert not alert.is_trigger


def test_webhook_template_with_underscored_variables_and_resolution() -> None:
    doc = {
        "alert_uid": "u-1",
        "alert_message": "Service Spooler stopped",
        "alert_priority": "moderate",
        "site_name": "Harbourside",
        "resolved_alert": "true",
        "timestamp": "2026-11-24T08:00:00Z",
    }
    connector = DattoRmmConnector()
    assert connector.matches(doc)
    alert = connector.normalize(doc, Picklists())
    assert (alert.external_id, alert.event, alert.version) == (
        "u-1",
        Event.UPDATED,
        "2026-11-24T08:00:00Z:resolved",
    )
    assert (alert.alert_severity, alert.company, alert.status) == (
        "Moderate",
        "Harbourside",
        "Resolved",
    )


def test_webhook_without_message_is_a_trigger() -> None:
    alert = DattoRmmConnector().normalize({"alertUID": "u-2"}, Picklists())
    assert alert.is_trigger
