"""Case-insensitive key access and picklists from tenant configuration."""

from __future__ import annotations

import pytest

from connectors.contract import Picklists, Source
from connectors.fields import CIDict, as_id, as_text, payload_digest
from connectors.picklists import picklists_from_config, resolve


def test_cidict_reads_any_casing_and_skips_empty_values() -> None:
    d = CIDict({"TicketNumber": "T1", "title": "", "Nested": {"Name": "x"}, "n": None})
    assert d["ticketnumber"] == d["TICKETNUMBER"] == "T1"
    assert "ticketNUMBER" in d and "missing" not in d
    assert d.first("Title", "TicketNumber") == "T1"  # "" and None count as absent
    assert d.first("n") is None
    nested = d.obj("nested")
    assert nested is not None and nested.text("name") == "x"
    assert d.text("Nested") == ""  # objects are not text
    assert d.lower_keys == {"ticketnumber", "title", "nested", "n"}


def test_first_key_wins_when_only_case_differs() -> None:
    assert CIDict({"Id": 1, "id": 2})["ID"] == 1


def test_text_and_id_coercions() -> None:
    assert as_text(5.0) == "5" and as_text(7.5) == "7.5" and as_text(True) == "true"
    assert as_id(351181) == as_id("351181") == as_id(351181.0) == "351181"


def test_picklists_from_config_are_per_source_and_string_keyed() -> None:
    config = {"autotask": {"priority": {"1": "High", 2: "Medium"}}, "kaseya_bms": {}}
    autotask = picklists_from_config(config, Source.AUTOTASK)
    assert autotask.name("priority", 1) == "High"
    assert autotask.name("priority", "2") == "Medium"
    assert picklists_from_config(config, Source.KASEYA_BMS).name("priority", 1) == ""
    assert picklists_from_config(config, "connectwise") == Picklists()


def test_resolve_prefers_the_payload_name_and_keeps_unknown_ids() -> None:
    extra: dict[str, object] = {}
    picklists = Picklists({"status": {"5": "Complete"}})
    assert resolve(picklists, "status", 5, extra, name="Closed") == "Closed"
    assert resolve(picklists, "status", "5.0", extra) == "Complete"
    assert resolve(picklists, "status", 9, extra) == ""
    assert extra == {"status_id": "9"}


@pytest.mark.parametrize(
    "doc",
    [
        {"id": "T-1", "title": "Printer down", "description": "".join(chr(i) for i in range(128))},
        {"b": 1, "a": True, "c": None, "d": -(2**63), "e": 2**63 - 1, "Z": ""},
        {"id": 7, "big": 2**64 + 1},  # beyond 64 bits
        {"id": 7, "title": "Drucker im 2. Stock – kaputt"},  # non-ASCII: escaped by json.dumps
        {"id": 7, "score": 1e16, "small": 1e-05, "x": 0.1},  # floats
        {"id": 7, "nested": {"b": 1, "a": [1, 2.5]}},
    ],
)
def test_payload_digest_is_the_sha256_of_the_standard_canonical_json(doc: dict) -> None:
    """Versions stored by earlier releases must stay valid: whichever way the digest is
    computed, it is the sha256 of json.dumps(sort_keys, compact, ensure_ascii)."""
    import hashlib
    import json

    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert payload_digest(doc) == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
