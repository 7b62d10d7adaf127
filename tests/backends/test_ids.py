"""backends.ids.new_id: the encoding is Crockford base32 of a 128-bit value, ids sort by time."""

from __future__ import annotations

import re
import time

import pytest

from backends import ids
from backends.ids import new_id


def reference(prefix: str, value: int) -> str:
    """The encoding written out digit by digit (what the C-backed version must equal)."""
    digits = []
    for _ in range(26):
        digits.append(ids._ALPHABET[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(digits))}"


@pytest.mark.parametrize(
    "value", [0, 1, 31, 32, (1 << 80) - 1, 1 << 80, (1 << 127) + 12345, (1 << 128) - 1]
)
def test_the_encoding_is_base32_of_the_value(monkeypatch: pytest.MonkeyPatch, value: int) -> None:
    ms, rand = value >> 80, value & ((1 << 80) - 1)
    monkeypatch.setattr(ids.time, "time", lambda: ms / 1000)
    monkeypatch.setattr(ids.secrets, "randbits", lambda bits: rand)
    assert new_id("tkt") == reference("tkt", value)


def test_ids_have_the_documented_shape_and_sort_by_time() -> None:
    first = [new_id("raw") for _ in range(200)]
    time.sleep(0.003)
    later = [new_id("raw") for _ in range(200)]
    assert all(re.fullmatch(r"raw_[0-9a-hjkmnp-tv-z]{26}", i) for i in first + later)
    assert max(first) < min(later)
    assert len(set(first + later)) == 400
