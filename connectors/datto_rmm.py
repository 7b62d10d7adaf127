"""Datto RMM alerts: the API ``Alert`` object and the community webhook template.

* API (``GET /v2/alert/{alertUid}``, the open/resolved lists): ``alertUid, priority,
  diagnostics, resolved, timestamp, alertContext{"@class", …}, alertSourceInfo{deviceName,
  siteName, …}``. ``priority`` (Critical/High/Moderate/Low/Information/Unknown) becomes
  ``alert_severity``; the title is built from the context type, the device and the diagnostics.
* Webhook: the JSON body is a template the MSP writes in Datto RMM (no published schema, no
  signature: UNCONFIRMED). We read the community template's names (``alertUID``,
  ``alertMessage``, ``dattoSiteDetails``, ``resolvedAlert``, ``platform``) and the spellings in
  docs/connectors.md (``alertPriority``, ``alertType``, ``deviceHostname``, ``siteName``,
  ``timestamp``), case-insensitively, with or without underscores.

Version: ``<timestamp>`` (``:resolved`` appended once the alert is resolved); otherwise a payload
digest. Event: API reads are snapshots; a webhook is ``created``, or ``updated`` when resolved.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.contract import Event, NormalizedTicket, PayloadIdentity, Picklists, Source
from connectors.errors import ConnectorError, ConnectorReason
from connectors.fields import CIDict, as_text, ci, payload_digest

_API_MARKERS = frozenset({"alertcontext", "alertsourceinfo", "alertmonitorinfo", "diagnostics"})
_SEVERITIES = {
    s.lower(): s for s in ("Critical", "High", "Moderate", "Low", "Information", "Unknown")
}
# Datto's own alertContext discriminators (fixed by the vendor, not tenant picklists).
_CONTEXT_LABELS = {
    "perf_disk_usage_ctx": "Disk usage",
    "online_offline_status_ctx": "Device online/offline status",
    "eventlog_ctx": "Event log",
    "srvc_status_ctx": "Service status",
    "comp_script_ctx": "Component script",
    "antivirus_ctx": "Antivirus",
    "custom_snmp_ctx": "SNMP",
    "perf_resource_usage_ctx": "Resource usage",
    "perf_mon_ctx": "Performance monitor",
    "patch_ctx": "Patch",
}


class _Flat(CIDict):
    """Template keys read case-insensitively and with or without underscores."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__({str(k).replace("_", ""): v for k, v in data.items()})

    def first(self, *names: str) -> Any:
        return super().first(*(n.replace("_", "") for n in names))


def _is_api(d: CIDict) -> bool:
    return "alertuid" in d.lower_keys and bool(d.lower_keys & _API_MARKERS)


def _context_label(context: CIDict | None) -> str:
    if context is None:
        return ""
    cls = context.text("@class")
    return _CONTEXT_LABELS.get(cls, cls.removesuffix("_ctx").replace("_", " ").capitalize())


def _truthy(value: Any) -> bool:
    return value is True or as_text(value).lower() in ("true", "1", "yes")


class DattoRmmConnector:
    """Datto RMM alerts, from the API or a webhook template."""

    source = Source.DATTO_RMM

    def matches(self, doc: Mapping[str, Any]) -> bool:
        keys = ci(doc).lower_keys
        return "alertuid" in keys or "alert_uid" in keys

    def identify(self, doc: Mapping[str, Any], raw: bytes) -> PayloadIdentity:
        d = ci(doc)
        if _is_api(d):
            alert_id, resolved, event = d.text("alertUid"), _truthy(d.first("resolved")), None
        else:
            f = _Flat(d.data)
            alert_id = f.text("alertUid")
            resolved = _truthy(f.first("resolvedAlert", "resolved", "alertResolved"))
            event = Event.UPDATED if resolved else Event.CREATED
            d = f
        if not alert_id:
            raise ConnectorError(
                "Datto RMM alert has no alertUid", reason=ConnectorReason.MISSING_ID
            )
        stamp = d.text("timestamp", "alertTimestamp")
        if stamp:
            version = f"{stamp}:resolved" if resolved else stamp
        else:
            version = payload_digest(ci(doc))
        return PayloadIdentity(self.source, alert_id, version, event or Event.SNAPSHOT)

    def normalize(self, doc: Mapping[str, Any], picklists: Picklists) -> NormalizedTicket:
        identity = self.identify(doc, b"")
        d = ci(doc)
        fields = _api_fields(d) if _is_api(d) else _webhook_fields(_Flat(d.data))
        return NormalizedTicket(
            source=self.source,
            external_id=identity.external_id,
            version=identity.version,
            event=identity.event,
            **fields,
        )


def _severity(value: str) -> str:
    return _SEVERITIES.get(value.lower(), value)


def _api_fields(d: CIDict) -> dict[str, Any]:
    context = d.obj("alertContext")
    source = d.obj("alertSourceInfo") or CIDict({})
    label = _context_label(context) or "Alert"
    device = source.text("deviceName")
    diagnostics = d.text("diagnostics")
    title = f"{label} alert on {device}" if device else f"{label} alert"
    if diagnostics:
        title = f"{title}: {diagnostics}"
    details = []
    if context is not None:
        for key, value in context.items():
            text = as_text(value)
            if key != "@class" and text:
                details.append(f"{key}: {text}")
    description = "\n".join(x for x in (diagnostics, "; ".join(details)) if x)
    resolved = _truthy(d.first("resolved"))
    extra: dict[str, Any] = {
        k: v
        for k, v in (
            ("device_name", device),
            ("device_uid", source.text("deviceUid")),
            ("site_uid", source.text("siteUid")),
            ("context_class", context.text("@class") if context is not None else ""),
            ("ticket_number", d.text("ticketNumber")),
            ("muted", "true" if _truthy(d.first("muted")) else ""),
        )
        if v
    }
    return {
        "title": title[:250],
        "description": description,
        "company": source.text("siteName"),
        "status": "Resolved" if resolved else "Open",
        "category": label,
        "alert_severity": _severity(d.text("priority")),
        "created_at": d.text("timestamp"),
        "updated_at": d.text("resolvedOn"),
        "extra": extra,
    }


def _webhook_fields(f: _Flat) -> dict[str, Any]:
    message = f.text("alertMessage", "alertMessageEn", "message")
    device = f.text("deviceHostname", "hostname", "deviceName")
    category = f.text("alertType", "alertCategory")
    title = message or (f"{category or 'Alert'} on {device}" if device else category or "Alert")
    resolved = _truthy(f.first("resolvedAlert", "resolved", "alertResolved"))
    notes = [
        x
        for x in (
            message,
            f"Device: {device}" if device else "",
            f.text("troubleshootingNote"),
        )
        if x
    ]
    extra: dict[str, Any] = {
        k: v
        for k, v in (
            ("device_name", device),
            ("device_ip", f.text("deviceIp")),
            ("device_os", f.text("deviceOs")),
            ("platform", f.text("platform")),
            ("doc_url", f.text("docUrl")),
        )
        if v
    }
    return {
        "title": title[:250],
        "description": "\n".join(notes),
        "company": f.text("siteName", "sitename", "dattoSiteDetails"),
        "status": "Resolved" if resolved else "Open",
        "category": category,
        "alert_severity": _severity(f.text("alertPriority", "priority")),
        "created_at": f.text("timestamp", "alertTimestamp"),
        "is_trigger": not message,
        "extra": extra,
    }
