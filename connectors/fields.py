"""Case-insensitive access to vendor JSON, and the small coercions every connector needs.

BMS keys may be PascalCase or camelCase on the wire, Autotask webhook ``Fields`` are PascalCase
with string values while its REST entity is camelCase with integers, and ConnectWise callback
key casing varies between integrations. Connectors read every key through ``CIDict``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

import orjson


class CIDict(Mapping[str, Any]):
    """A read-only view of a JSON object whose keys match case-insensitively.

    When two keys differ only by case, the first one in the document wins.
    """

    __slots__ = ("_data", "_index", "_lower_keys")

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data
        index: dict[str, str] = {}
        for key in data:
            index.setdefault(str(key).lower(), key)
        self._index = index
        self._lower_keys: frozenset[str] | None = None

    def __getitem__(self, key: str) -> Any:
        return self._data[self._index[key.lower()]]

    def get(self, key: str, default: Any = None) -> Any:
        # Without raising KeyError for a missing key (Mapping.get does): shape detection and
        # identify ask for many keys a payload does not have, inside every ingest call.
        real = self._index.get(key.lower()) if isinstance(key, str) else None
        return default if real is None else self._data[real]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    @property
    def data(self) -> Mapping[str, Any]:
        """The wrapped document, unchanged."""
        return self._data

    @property
    def lower_keys(self) -> frozenset[str]:
        """The document's keys, lower-cased (what shape detection looks at; made once)."""
        if self._lower_keys is None:
            self._lower_keys = frozenset(self._index)
        return self._lower_keys

    def first(self, *names: str) -> Any:
        """The value of the first of ``names`` present and not null/empty, else None."""
        for name in names:
            real = self._index.get(name.lower())
            if real is None:
                continue
            value = self._data[real]
            if value is not None and value != "":
                return value
        return None

    def text(self, *names: str) -> str:
        """``first(*names)`` as a stripped string ("" when absent; dicts/lists are skipped)."""
        return as_text(self.first(*names))

    def obj(self, *names: str) -> CIDict | None:
        """The first of ``names`` holding a JSON object, wrapped; None when none does."""
        for name in names:
            value = self.first(name)
            if isinstance(value, Mapping):
                return CIDict(value)
        return None


def ci(data: Mapping[str, Any]) -> CIDict:
    """Wrap ``data`` for case-insensitive reads (no copy when it already is one)."""
    return data if isinstance(data, CIDict) else CIDict(data)


def as_text(value: Any) -> str:
    """A scalar as a clean string: "" for None/containers, no ".0" on whole floats."""
    if value is None or isinstance(value, Mapping | list | tuple):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def as_id(value: Any) -> str:
    """An id as text ("" when absent); ``"351181"``, ``351181`` and ``351181.0`` are equal."""
    text = as_text(value)
    if text.endswith(".0") and text[:-2].isdigit():
        return text[:-2]
    return text


def payload_digest(doc: Mapping[str, Any]) -> str:
    """The fallback version: a sha256 of the payload's canonical JSON.

    The same bytes always give the same digest (a redelivery is a duplicate), and ``identify``
    (which has the raw bytes) and ``normalize`` (which has only the parsed document) agree.
    """
    data = doc.data if isinstance(doc, CIDict) else doc
    canonical = _canonical_fast(data)
    if canonical is None:
        canonical = json.dumps(
            data, sort_keys=True, separators=(",", ":"), ensure_ascii=True
        ).encode("ascii")
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


_FLAT_TYPES = (str, int, bool, type(None))


def _canonical_fast(data: Mapping[str, Any]) -> bytes | None:
    """The canonical JSON by orjson (in C), or None where it would not be byte-for-byte what
    ``json.dumps(sort_keys, compact, ensure_ascii)`` writes: a nested value or a float (orjson
    formats exponents differently), non-ASCII text (``ensure_ascii`` escapes it), DEL (escaped
    too) or an integer beyond 64 bits (orjson refuses it). Digests stored before stay valid."""
    if not all(type(v) in _FLAT_TYPES for v in data.values()):
        return None
    try:
        out = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return None
    return out if out.isascii() and b"\x7f" not in out else None


def join_category(*parts: str) -> str:
    """``"Email / Outlook"`` from an issue type and its sub-issue type (empty parts dropped)."""
    return " / ".join(p for p in parts if p)
