"""Short-term session memory: the embedded store (fake clock) and a real Redis on 127.0.0.1:6379."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from context_helpers import FakeClock

from context.sessions import InMemorySessionStore, RedisSessionStore

REDIS_URL = "redis://127.0.0.1:6379/0"


async def test_embedded_store_expiry_deletes(clock: FakeClock) -> None:
    store = InMemorySessionStore(clock)
    await store.put("acme", "s1", b"state", 30, [])
    clock.advance(29)
    assert (await store.get("acme", "s1")).state == b"state"  # type: ignore[union-attr]
    clock.advance(2)
    assert await store.get("acme", "s1") is None
    assert ("acme", "s1") not in store._items  # deleted, not hidden


async def test_embedded_store_forgets_by_subject_and_tenant(clock: FakeClock) -> None:
    store = InMemorySessionStore(clock)
    await store.put("acme", "s1", b"a", 60, ["h1"])
    await store.put("acme", "s2", b"b", 60, ["h2"])
    await store.put("globex", "s3", b"c", 60, ["h1"])
    assert await store.forget_subject("acme", "h1") == 1
    assert await store.get("globex", "s3") is not None
    assert await store.forget_tenant("acme") == 1
    assert await store.get("acme", "s2") is None


@pytest.fixture
async def redis_store() -> AsyncIterator[tuple[RedisSessionStore, object, str]]:
    import redis.asyncio as redis_asyncio

    client = redis_asyncio.Redis.from_url(REDIS_URL)
    try:
        await asyncio.wait_for(client.ping(), timeout=2)
    except Exception:  # noqa: BLE001
        await client.aclose()
        pytest.skip("no Redis on 127.0.0.1:6379 (bash .ci/services.sh starts one)")
    prefix = f"omega:test:{uuid.uuid4().hex}"
    store = RedisSessionStore(REDIS_URL, prefix=prefix, client=client)
    yield store, client, prefix
    keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_redis_store_round_trip_with_ttl(redis_store: tuple[RedisSessionStore, object, str]) -> None:
    store, client, prefix = redis_store
    expire = await store.put("acme", "s1", b"\x00state", 120, ["h1"])
    assert 110 < expire - time.time() <= 121
    got = await store.get("acme", "s1")
    assert got is not None and got.state == b"\x00state"
    pttl = await client.pttl(f"{prefix}:acme:s:s1")  # type: ignore[attr-defined]
    assert 0 < pttl <= 120_000
    assert 0 < await client.pttl(f"{prefix}:acme:subj:h1") <= 120_000  # type: ignore[attr-defined]
    assert await store.delete("acme", "s1") is True
    assert await store.get("acme", "s1") is None


async def test_redis_expiry_deletes_the_key(redis_store: tuple[RedisSessionStore, object, str]) -> None:
    """Redis removes the key itself when the TTL passes; wait (bounded) for that to be observable."""
    store, client, prefix = redis_store
    await store.put("acme", "short", b"x", 0.05, [])
    deadline = time.monotonic() + 3.0
    # Redis expires keys on its own clock and, without changing the shared server's config
    # (keyspace notifications), offers no event to wait on: poll, bounded to 3 s.
    while await client.exists(f"{prefix}:acme:s:short") and time.monotonic() < deadline:  # type: ignore[attr-defined]  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    assert not await client.exists(f"{prefix}:acme:s:short")  # type: ignore[attr-defined]
    assert await store.get("acme", "short") is None


async def test_redis_forget_removes_every_key_of_the_subject_and_tenant(
    redis_store: tuple[RedisSessionStore, object, str],
) -> None:
    store, client, prefix = redis_store
    await store.put("acme", "s1", b"jane", 600, ["hj"])
    await store.put("acme", "s2", b"jane too", 600, ["hj", "hb"])
    await store.put("acme", "s3", b"bob", 600, ["hb"])
    await store.put("globex", "s1", b"other tenant", 600, ["hj"])
    assert await store.forget_subject("acme", "hj") == 2
    keys = [k.decode() async for k in client.scan_iter(match=f"{prefix}:*")]  # type: ignore[attr-defined]
    assert f"{prefix}:acme:s:s1" not in keys and f"{prefix}:acme:s:s2" not in keys
    assert f"{prefix}:acme:subj:hj" not in keys
    assert f"{prefix}:globex:s:s1" in keys
    assert await store.forget_tenant("acme") == 1
    left = [k async for k in client.scan_iter(match=f"{prefix}:acme:*")]  # type: ignore[attr-defined]
    assert left == []
    assert await store.get("globex", "s1") is not None
