"""Helpers for the Context Server tests: a fake clock, a hashing embedder, a wired service."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from context.audit import AuditLog
from context.embedded_index import EmbeddedIndex
from context.embedding import MicroBatcher
from context.keywords import tokenize
from context.service import ContextService
from context.sessions import InMemorySessionStore


class FakeClock:
    """A clock the test moves by hand, so TTL expiry needs no sleeping."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class HashingEmbedder:
    """Unit tests only: a deterministic bag-of-words embedder (shared words → similar vectors)."""

    dim = 384
    model_id = "hashing-test"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def embed(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for tok in tokenize(text) or ["empty"]:
                h = int.from_bytes(hashlib.blake2b(tok.encode(), digest_size=8).digest(), "little")
                out[i, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
            norm = np.linalg.norm(out[i])
            out[i] /= norm if norm else 1.0
        return out


def make_service(
    data_dir: Path, clock: FakeClock, embedder: HashingEmbedder, **index_kwargs: object
) -> ContextService:
    return ContextService(
        index=EmbeddedIndex(data_dir / "index", embedder.dim, **index_kwargs),  # type: ignore[arg-type]
        sessions=InMemorySessionStore(clock),
        embedder=MicroBatcher(embedder, window_s=0.0),
        audit=AuditLog(data_dir / "audit.sqlite"),
        clock=clock,
    )


def data_dir_bytes(root: Path) -> bytes:
    """Every byte of every file under ``root`` (to prove erased text is in no store file)."""
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())
