"""The long-term index port: where memories and their vectors live, always tenant-scoped.

Every method takes the tenant and the implementation enforces it (one shard per tenant in the
embedded index; a ``tenant eq`` filter on every Azure AI Search query), so no metadata filter a
caller crafts can reach another tenant's memories.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from context.models import EraseSelector, MemoryRecord, RecallHit, RecallQuery


class LongTermIndex(Protocol):
    """Stores, searches and really deletes long-term memories."""

    async def upsert(self, record: MemoryRecord, vector: np.ndarray) -> None:
        """Insert or replace the memory with ``record.memory_id`` in its tenant."""
        ...

    async def get(self, tenant: str, memory_id: str, now: float) -> MemoryRecord | None:
        """The memory, or None when absent or expired (expired ones are deleted)."""
        ...

    async def search(self, query: RecallQuery, now: float) -> list[RecallHit]:
        """The best ``query.top_k`` unexpired memories of ``query.tenant`` that pass the filters."""
        ...

    async def delete(self, selector: EraseSelector) -> int:
        """Delete what the selector chooses from every store file; returns how many memories."""
        ...

    async def purge_expired(self, now: float) -> int:
        """Delete every memory whose expiry has passed; returns how many."""
        ...

    async def close(self) -> None:
        """Release files and connections."""
        ...
