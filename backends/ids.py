"""Time-sortable, URL-safe ids (ULID-like: 48-bit milliseconds + 80 random bits, Crockford base32)."""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
# Two base32 digits per entry: a 130-bit value is 13 lookups instead of 26 loop turns. Ids are
# made for every stored row, often by the store's writer thread while it holds the GIL.
_PAIRS = [_ALPHABET[i >> 5] + _ALPHABET[i & 31] for i in range(1024)]


def new_id(prefix: str) -> str:
    """``<prefix>_<26 chars>``; ids made later sort after earlier ones (to the millisecond).

    The 26 characters are the big-endian base32 of the 128-bit value (48-bit milliseconds, then
    80 random bits; the top two of the 130 encoded bits are zero). Crockford's lower-case
    alphabet sorts in ASCII order, so ids sort as their values do.
    """
    v = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    p = _PAIRS
    return (
        f"{prefix}_{p[v >> 120]}{p[(v >> 110) & 1023]}{p[(v >> 100) & 1023]}"
        f"{p[(v >> 90) & 1023]}{p[(v >> 80) & 1023]}{p[(v >> 70) & 1023]}{p[(v >> 60) & 1023]}"
        f"{p[(v >> 50) & 1023]}{p[(v >> 40) & 1023]}{p[(v >> 30) & 1023]}{p[(v >> 20) & 1023]}"
        f"{p[(v >> 10) & 1023]}{p[v & 1023]}"
    )
