"""The one vendor-neutral ticket contract every connector normalizes into.

Plain Python (no gRPC types): the servicers translate it to ``omega.tickets.v1.Ticket``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class Source(StrEnum):
    """The systems OMEGA ingests from (values match the CLI's ``--source`` names)."""

    AUTOTASK = "autotask"
    CONNECTWISE = "connectwise"
    KASEYA_BMS = "kaseya_bms"
    DATTO_RMM = "datto_rmm"
    GENERIC = "generic"


class Event(StrEnum):
    """What the payload says happened to the ticket."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    SNAPSHOT = "snapshot"  # a full ticket read from the API (poll, GET), not an event


@dataclass(frozen=True)
class PayloadIdentity:
    """What ingest needs to deduplicate a payload, read cheaply before normalization.

    Idempotency key: (tenant, source, external_id, version). ``version`` is the source's own
    notion of a revision (Autotask SequenceNumber, ConnectWise/BMS modification time, …); when a
    payload carries none, the connector uses a digest of the payload so a redelivery of the same
    bytes is still a duplicate.
    """

    source: Source
    external_id: str
    version: str
    event: Event


@dataclass(frozen=True)
class Picklists:
    """Per-tenant id → name tables (priority, status, queue, issue_type, …) for one source.

    They come from configuration (or the vendor's entityInformation endpoint), never from
    hard-coded tables: Autotask and BMS picklists differ between tenants.
    """

    tables: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def name(self, table: str, value: Any) -> str:
        """The configured name for ``value`` in ``table``, or "" when unknown or empty."""
        if value is None or value == "":
            return ""
        return str(self.tables.get(table, {}).get(str(value), ""))


@dataclass(frozen=True)
class NormalizedTicket:
    """A ticket in OMEGA's contract. Empty strings mean "the payload did not say"."""

    source: Source
    external_id: str
    version: str
    event: Event
    title: str = ""
    description: str = ""
    external_number: str = ""
    company: str = ""
    contact_name: str = ""
    contact_email: str = ""
    status: str = ""
    priority: str = ""
    queue: str = ""
    assignee: str = ""
    category: str = ""  # the source's issue type / type / alert type, when it has one
    created_at: str = ""  # ISO 8601 as the source gave it
    updated_at: str = ""
    # True when the payload only announces the ticket (webhook trigger): fetch the details.
    is_trigger: bool = False
    # RMM alert severity (Critical/High/…) for priority scoring; "" for PSA tickets.
    alert_severity: str = ""
    # Anything vendor-specific worth keeping (device, site, SLA fields); never relied on by triage.
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """Title and description as one text for the models."""
        return f"{self.title}\n{self.description}".strip()


class Connector(Protocol):
    """One PSA/RMM: recognise, identify and normalize its payloads."""

    source: Source

    def matches(self, doc: Mapping[str, Any]) -> bool:
        """True when ``doc`` has this vendor's shape (used when the caller names no source)."""
        ...

    def identify(self, doc: Mapping[str, Any], raw: bytes) -> PayloadIdentity:
        """External id, version and event, cheaply; raises ``ConnectorError`` when absent."""
        ...

    def normalize(self, doc: Mapping[str, Any], picklists: Picklists) -> NormalizedTicket:
        """The full contract; raises ``ConnectorError`` with a reason when it cannot."""
        ...
