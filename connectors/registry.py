"""Find the connector for a payload: parse, detect the vendor, identify, normalize.

What ingest calls (cheap: one JSON parse and a look at top-level keys)::

    doc, identity = identify(raw, source)          # source: Source or None to detect
    ticket = normalize(doc, identity.source, picklists_from_config(tenant.picklists, identity.source))
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import orjson

from connectors.autotask import AutotaskConnector
from connectors.connectwise import ConnectWiseConnector
from connectors.contract import Connector, NormalizedTicket, PayloadIdentity, Picklists, Source
from connectors.datto_rmm import DattoRmmConnector
from connectors.errors import ConnectorError, ConnectorReason
from connectors.fields import ci
from connectors.generic import GenericConnector
from connectors.kaseya_bms import KaseyaBmsConnector

# Stateless and immutable: one instance per vendor is all the process ever needs.
_CONNECTORS: Mapping[Source, Connector] = MappingProxyType(
    {
        Source.AUTOTASK: AutotaskConnector(),
        Source.CONNECTWISE: ConnectWiseConnector(),
        Source.KASEYA_BMS: KaseyaBmsConnector(),
        Source.DATTO_RMM: DattoRmmConnector(),
        Source.GENERIC: GenericConnector(),
    }
)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# One decoder for the slow path (``json.loads`` with arguments builds a new one per call).
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_BOM = b"\xef\xbb\xbf"
# orjson reads an integer beyond 64 bits as a float (losing digits of an id): a payload with
# such a number, or anything that looks like one (19+ digits after ``:``, ``,`` or ``[``, even
# inside a string), is parsed by the standard library.
_LONG_NUMBER = re.compile(rb"[:,\[]\s*-?\d{19}")


def parse_payload(raw: bytes) -> Mapping[str, Any]:
    """The payload as a JSON object; ``ConnectorError`` MALFORMED_JSON / NOT_AN_OBJECT otherwise.

    The MALFORMED_JSON message and metadata give the line, column and byte offset of the error.
    Strict JSON is parsed by orjson (in C, ~8x faster: this runs inside every ingest call);
    what it refuses (a syntax error, a lone surrogate escape) goes through the standard
    library, which accepts the second and explains the first; so does a payload with an integer
    beyond 64 bits, which orjson would turn into a float.
    """
    body = raw[3:] if raw.startswith(_BOM) else raw
    if _LONG_NUMBER.search(body):
        doc = _parse_slowly(raw)
    else:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            doc = _parse_slowly(raw)
    if not isinstance(doc, dict):
        raise ConnectorError(
            f"payload is JSON but not an object (got {type(doc).__name__})",
            reason=ConnectorReason.NOT_AN_OBJECT,
        )
    return doc


def _parse_slowly(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConnectorError(
            f"payload is not UTF-8 (invalid byte at offset {exc.start})",
            reason=ConnectorReason.MALFORMED_JSON,
            offset=str(exc.start),
        ) from None
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise ConnectorError(
            f"payload is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            f" (char {exc.pos})",
            reason=ConnectorReason.MALFORMED_JSON,
            line=str(exc.lineno),
            column=str(exc.colno),
            offset=str(exc.pos),
        ) from None
    except (ValueError, RecursionError) as exc:
        raise ConnectorError(
            f"payload is not valid JSON: {str(exc)[:80]}", reason=ConnectorReason.MALFORMED_JSON
        ) from None


def connector_for(source: Source | str) -> Connector:
    """The connector of ``source`` (a ``Source`` or its string value)."""
    try:
        return _CONNECTORS[Source(source)]
    except ValueError:
        raise ConnectorError(
            f"unknown source {str(source)[:40]!r}", reason=ConnectorReason.UNKNOWN_SHAPE
        ) from None


def matching_sources(doc: Mapping[str, Any]) -> list[Source]:
    """Every source whose connector recognises ``doc`` (normally zero or one)."""
    d = ci(doc)  # index the keys once for every connector
    return [source for source, connector in _CONNECTORS.items() if connector.matches(d)]


def detect_source(doc: Mapping[str, Any]) -> Source:
    """The one vendor whose shape ``doc`` has; UNKNOWN_SHAPE / AMBIGUOUS_SHAPE otherwise."""
    found = matching_sources(doc)
    if not found:
        raise ConnectorError(
            "payload matches no known PSA/RMM shape; name the source or use the generic shape",
            reason=ConnectorReason.UNKNOWN_SHAPE,
        )
    if len(found) > 1:
        names = ",".join(s.value for s in found)
        raise ConnectorError(
            f"payload matches several shapes ({names}); name the source",
            reason=ConnectorReason.AMBIGUOUS_SHAPE,
            candidates=names,
        )
    return found[0]


def identify(
    raw: bytes, source: Source | str | None = None
) -> tuple[Mapping[str, Any], PayloadIdentity]:
    """Parse ``raw`` and read its idempotency identity (source, external id, version, event).

    With ``source=None`` the vendor is detected. With a named source, a payload that has
    another vendor's shape (and not this one's) is refused with WRONG_SOURCE; a payload with no
    recognisable shape is still handed to the named connector, which accepts what it can
    (e.g. an opaque Kaseya BMS webhook carrying only a ticket id) or raises.
    """
    doc = parse_payload(raw)
    d = ci(doc)  # index the keys once for every connector
    if source is None:
        chosen = detect_source(d)
    else:
        chosen = Source(connector_for(source).source)
        if not _CONNECTORS[chosen].matches(d):
            others = [s for s in matching_sources(d) if s is not chosen]
            if others:
                raise ConnectorError(
                    f"payload has the shape of {others[0].value}, not {chosen.value}",
                    reason=ConnectorReason.WRONG_SOURCE,
                    detected=others[0].value,
                )
    return doc, _CONNECTORS[chosen].identify(d, raw)


def normalize(
    doc: Mapping[str, Any], source: Source | str, picklists: Picklists
) -> NormalizedTicket:
    """The full contract for a parsed payload of ``source`` (after ``identify``)."""
    return connector_for(source).normalize(doc, picklists)


def normalize_payload(
    raw: bytes, source: Source | str | None, picklists: Picklists | None = None
) -> NormalizedTicket:
    """``identify`` then ``normalize`` in one call (demo loaders, the CLI, tests)."""
    doc, identity = identify(raw, source)
    return normalize(doc, identity.source, picklists or Picklists())
