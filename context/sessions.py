"""Short-term session memory with TTL: an embedded in-process store and a Redis adapter."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, Protocol

from context.models import Clock, SessionState, wall_clock


class SessionStore(Protocol):
    """Keeps a session's state until its TTL passes; expired state is deleted, never served."""

    async def put(
        self, tenant: str, session_id: str, state: bytes, ttl_s: float, subject_hashes: Sequence[str]
    ) -> float:
        """Store the state; returns its expiry (epoch seconds)."""
        ...

    async def get(self, tenant: str, session_id: str) -> SessionState | None:
        """The state, or None when absent or expired."""
        ...

    async def delete(self, tenant: str, session_id: str) -> bool:
        """Remove one session; True when it existed."""
        ...

    async def forget_subject(self, tenant: str, subject_hash: str) -> int:
        """Remove every session of the tenant about this subject; returns how many."""
        ...

    async def forget_tenant(self, tenant: str) -> int:
        """Remove every session of the tenant; returns how many."""
        ...

    async def sweep(self) -> int:
        """Delete expired sessions now; returns how many."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class InMemorySessionStore:
    """The embedded default: a dict with expiry checked on every read and by ``sweep``."""

    def __init__(self, clock: Clock = wall_clock) -> None:
        self._clock = clock
        self._items: dict[tuple[str, str], tuple[bytes, float, frozenset[str]]] = {}
        self._lock = asyncio.Lock()

    async def put(
        self, tenant: str, session_id: str, state: bytes, ttl_s: float, subject_hashes: Sequence[str]
    ) -> float:
        expire = self._clock() + ttl_s
        async with self._lock:
            self._items[(tenant, session_id)] = (bytes(state), expire, frozenset(subject_hashes))
        return expire

    async def get(self, tenant: str, session_id: str) -> SessionState | None:
        async with self._lock:
            item = self._items.get((tenant, session_id))
            if item is None:
                return None
            if item[1] <= self._clock():
                del self._items[(tenant, session_id)]
                return None
            return SessionState(item[0], item[1])

    async def delete(self, tenant: str, session_id: str) -> bool:
        async with self._lock:
            return self._items.pop((tenant, session_id), None) is not None

    async def forget_subject(self, tenant: str, subject_hash: str) -> int:
        async with self._lock:
            keys = [k for k, v in self._items.items() if k[0] == tenant and subject_hash in v[2]]
            for k in keys:
                del self._items[k]
            return len(keys)

    async def forget_tenant(self, tenant: str) -> int:
        async with self._lock:
            keys = [k for k in self._items if k[0] == tenant]
            for k in keys:
                del self._items[k]
            return len(keys)

    async def sweep(self) -> int:
        now = self._clock()
        async with self._lock:
            keys = [k for k, v in self._items.items() if v[1] <= now]
            for k in keys:
                del self._items[k]
            return len(keys)

    async def close(self) -> None:
        async with self._lock:
            self._items.clear()


class RedisSessionStore:
    """Sessions in Redis: one key per session with a PX expiry, plus per-subject index sets.

    Keys: ``<prefix>:<tenant>:s:<session_id>`` (the state) and ``<prefix>:<tenant>:subj:<hash>``
    (a set of session ids, expiring with its longest-lived session). Redis deletes expired keys
    itself; erasure deletes the keys immediately.
    """

    def __init__(self, url: str, *, prefix: str = "omega:ctx", client: Any = None) -> None:
        if client is None:
            try:
                import redis.asyncio as redis_asyncio
            except ImportError as exc:  # pragma: no cover - redis is a dependency
                raise RuntimeError("install redis: pip install redis") from exc
            client = redis_asyncio.Redis.from_url(url)
        self._redis = client
        self._prefix = prefix

    def _key(self, tenant: str, session_id: str) -> str:
        return f"{self._prefix}:{tenant}:s:{session_id}"

    def _subject_key(self, tenant: str, subject_hash: str) -> str:
        return f"{self._prefix}:{tenant}:subj:{subject_hash}"

    async def put(
        self, tenant: str, session_id: str, state: bytes, ttl_s: float, subject_hashes: Sequence[str]
    ) -> float:
        ttl_ms = max(1, int(ttl_s * 1000))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key(tenant, session_id), state, px=ttl_ms)
            for h in subject_hashes:
                skey = self._subject_key(tenant, h)
                pipe.sadd(skey, session_id)
                pipe.pexpire(skey, ttl_ms, gt=True)
                pipe.pexpire(skey, ttl_ms, nx=True)
            await pipe.execute()
        return time.time() + ttl_ms / 1000

    async def get(self, tenant: str, session_id: str) -> SessionState | None:
        key = self._key(tenant, session_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(key)
            pipe.pttl(key)
            value, pttl = await pipe.execute()
        if value is None or pttl == -2:
            return None
        expire = time.time() + (pttl / 1000 if pttl and pttl > 0 else 0)
        return SessionState(bytes(value), expire)

    async def delete(self, tenant: str, session_id: str) -> bool:
        return bool(await self._redis.delete(self._key(tenant, session_id)))

    async def forget_subject(self, tenant: str, subject_hash: str) -> int:
        skey = self._subject_key(tenant, subject_hash)
        members = await self._redis.smembers(skey)
        keys = [self._key(tenant, m.decode() if isinstance(m, bytes) else str(m)) for m in members]
        deleted = int(await self._redis.delete(*keys)) if keys else 0
        await self._redis.delete(skey)
        return deleted

    async def forget_tenant(self, tenant: str) -> int:
        sessions = 0
        batch: list[bytes] = []
        async for key in self._redis.scan_iter(match=f"{self._prefix}:{tenant}:*", count=500):
            batch.append(key)
            if b":s:" in key:
                sessions += 1
            if len(batch) >= 500:
                await self._redis.delete(*batch)
                batch = []
        if batch:
            await self._redis.delete(*batch)
        return sessions

    async def sweep(self) -> int:
        return 0  # Redis deletes expired keys itself

    async def close(self) -> None:
        await self._redis.aclose()
