"""Tokenisation and BM25 keyword scoring for hybrid recall."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping

_TOKEN = re.compile(r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?")
_STOP = frozenset(
    "a an and are as at be been but by can could do does for from has have hi hello i if in into "
    "is it its me my no not of on or our please regards so that the their them then there these "
    "they this to too us was we were what when where which who will with would you your thanks "
    "thank dear best".split()
)
_BM25_K1 = 1.2
_BM25_B = 0.75


def tokenize(text: str) -> list[str]:
    """Lower-case word and identifier tokens (error codes like ``0x80070005`` stay whole)."""
    return [t for t in _TOKEN.findall(text.lower()) if t not in _STOP and len(t) > 1]


def is_identifier(token: str) -> bool:
    """Tokens with a digit (error codes, KB numbers, host names): rare and worth exact lookup."""
    return any(c.isdigit() for c in token) and any(c.isalpha() for c in token)


def bm25(
    query_terms: Iterable[str],
    doc_counts: Mapping[str, int],
    doc_len: int,
    df: Mapping[str, int],
    n_docs: int,
    avg_len: float,
) -> tuple[float, tuple[str, ...]]:
    """BM25 of one document for the query terms, and the terms it contains."""
    score = 0.0
    matched: list[str] = []
    norm = _BM25_K1 * (1 - _BM25_B + _BM25_B * doc_len / max(avg_len, 1e-9))
    for term in dict.fromkeys(query_terms):
        tf = doc_counts.get(term, 0)
        if not tf:
            continue
        d = df.get(term, 0)
        idf = math.log(1 + (n_docs - d + 0.5) / (d + 0.5))
        score += idf * tf * (_BM25_K1 + 1) / (tf + norm)
        matched.append(term)
    return score, tuple(matched)


def counts(text: str) -> tuple[Counter[str], int]:
    """Term counts and length of a document."""
    toks = tokenize(text)
    return Counter(toks), len(toks)
