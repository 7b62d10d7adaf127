"""Domain types of the Context Server (no gRPC types)."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

Clock = Callable[[], float]
"""Seconds since the epoch; injectable so tests drive TTL expiry without sleeping."""

wall_clock: Clock = time.time


class MemoryKind(enum.IntEnum):
    """What a memory is; values equal the proto enum's numbers."""

    RESOLVED_TICKET = 1
    TECHNICIAN_NOTE = 2
    KB_ARTICLE = 3
    CONVERSATION_TURN = 4


@dataclass(frozen=True)
class MemoryRecord:
    """One long-term memory as stored (text and resolution already redacted)."""

    memory_id: str
    tenant: str
    kind: MemoryKind
    text: str
    resolution: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    source_ticket_id: str = ""
    confirmed: bool = False
    create_time: float = 0.0
    expire_time: float | None = None
    subject_hashes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecallQuery:
    """What to look for inside one tenant's memory."""

    tenant: str
    embedding: object  # np.ndarray (dim,) float32, L2-normalised
    terms: tuple[str, ...] = ()
    metadata_filter: Mapping[str, str] = field(default_factory=dict)
    kinds: frozenset[MemoryKind] = frozenset()
    only_confirmed: bool = False
    top_k: int = 5


@dataclass(frozen=True)
class RecallHit:
    """A recalled memory, its scores and why it matched."""

    memory: MemoryRecord
    score: float
    semantic_score: float
    keyword_score: float
    matched_terms: tuple[str, ...] = ()

    @property
    def why(self) -> str:
        parts = [f"semantic {self.semantic_score:.2f}"]
        if self.matched_terms:
            parts.append("matched " + ", ".join(self.matched_terms[:8]))
        if self.memory.confirmed:
            parts.append("technician-confirmed")
        return "; ".join(parts)


@dataclass(frozen=True)
class EraseSelector:
    """Exactly one way of choosing what to erase inside a tenant."""

    tenant: str
    subject_hash: str = ""
    source_ticket_id: str = ""
    memory_id: str = ""
    entire_tenant: bool = False


@dataclass(frozen=True)
class ForgetResult:
    """What an erasure removed, and its audit record."""

    memories_deleted: int
    sessions_deleted: int
    audit_record_id: str
    erase_time: float


@dataclass(frozen=True)
class SessionState:
    """Short-term state of one session."""

    state: bytes
    expire_time: float
