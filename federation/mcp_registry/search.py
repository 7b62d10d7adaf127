"""Ranking tool descriptions against a query: embeddings when available, BM25 otherwise."""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)

_TOKEN_RE = re.compile(r"[a-z0-9]+")


class Embedder(Protocol):
    """Turns texts into vectors (one row per text); e.g. titans.local.embedding.MiniLMEmbedder."""

    def embed(self, texts: list[str]) -> Any: ...


def default_embedder() -> Embedder | None:
    """The local MiniLM embedder when it is installed, else None (lexical search is used)."""
    try:
        from titans.local.embedding import MiniLMEmbedder
    except ImportError:
        log.info("no local embedder; MCP tool search is lexical (BM25)")
        return None
    try:
        embedder: Embedder = MiniLMEmbedder.load()
    except Exception:  # noqa: BLE001 - a missing model must not stop the registry
        log.exception("could not load the local embedder; MCP tool search is lexical (BM25)")
        return None
    return embedder


def tokenize(text: str) -> list[str]:
    """Lower-case alphanumeric tokens; snake_case and camelCase names split into words."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text).replace("_", " ").lower()
    return [_plural(t) for t in _TOKEN_RE.findall(text)]


def _plural(token: str) -> str:
    # A crude stemmer: enough that "tickets" finds "ticket".
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
        return token[:-1]
    return token


def bm25_scores(query: str, docs: Sequence[str], *, k1: float = 1.2, b: float = 0.75) -> list[float]:
    """Okapi BM25 score of each document for ``query`` (0 when no query term occurs)."""
    tokenized = [tokenize(d) for d in docs]
    n = len(tokenized)
    if n == 0:
        return []
    avg_len = sum(len(t) for t in tokenized) / n or 1.0
    df: Counter[str] = Counter()
    for toks in tokenized:
        df.update(set(toks))
    terms = set(tokenize(query))
    scores = []
    for toks in tokenized:
        tf = Counter(toks)
        score = 0.0
        for term in terms:
            f = tf.get(term, 0)
            if not f:
                continue
            idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
            score += idf * f * (k1 + 1) / (f + k1 * (1 - b + b * len(toks) / avg_len))
        scores.append(score)
    return scores


def cosine_scores(query_vec: Any, doc_vecs: Any) -> list[float]:
    """Cosine similarity of one query vector with each row of ``doc_vecs``."""
    q = np.asarray(query_vec, dtype=np.float32).reshape(-1)
    d = np.asarray(doc_vecs, dtype=np.float32)
    if d.size == 0:
        return []
    qn = q / (np.linalg.norm(q) or 1.0)
    dn = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
    return [float(x) for x in dn @ qn]
