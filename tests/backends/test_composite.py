"""The composite store's recovery guarantees (Cosmos emulator + Azurite + Redis): a publish that
fails leaves the work in the ticket's outbox for the reconciler; a store that is down makes
ingest UNAVAILABLE before anything is accepted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from backends.composite import CompositeStore
from backends.cosmos.documents import CosmosDocuments
from backends.records import TicketState
from backends.redis.bus import RedisStreamsBus, connect
from connectors.contract import Event, PayloadIdentity, Source
from federation.errors import Unavailable
from tests.backends.conftest import (
    AZURITE,
    COSMOS,
    COSMOS_KEY,
    REDIS,
    azurite_blobs,
    cosmos_docs,
    drop_cosmos,
    drop_redis_prefix,
    redis_bus,
    require,
)
from tests.conftest import eventually

pytestmark = pytest.mark.timeout(60)
RAW = "ticket.raw"


def ident(version: str = "1") -> PayloadIdentity:
    return PayloadIdentity(Source.AUTOTASK, "T1", version, Event.CREATED)


@pytest.fixture
async def parts() -> AsyncIterator[dict[str, Any]]:
    for addr, what in ((REDIS, "redis"), (AZURITE, "azurite"), (COSMOS, "cosmosdb-server")):
        require(addr, what)
    docs, blobs, bus = await cosmos_docs(), await azurite_blobs(), await redis_bus()
    # A bus whose Redis is not there (nothing listens on port 9).
    dead = RedisStreamsBus(connect("127.0.0.1", 9), prefix=bus._prefix)
    yield {"docs": docs, "blobs": blobs, "bus": bus, "dead_bus": dead}
    await dead.aclose()
    await drop_redis_prefix(bus)
    await blobs.aclose()
    await drop_cosmos(docs)


async def test_ingest_is_unavailable_while_the_bus_is_down_and_nothing_is_lost(parts: dict[str, Any]) -> None:
    store = CompositeStore(docs=parts["docs"], blobs=parts["blobs"], bus=parts["dead_bus"], outbox_grace_s=0.0)
    with pytest.raises(Unavailable):
        await store.journal.accept("acme", ident(), b"payload", "webhook", RAW)
    [stuck] = await store.tickets.stuck(0.0)
    assert stuck["outbox_pending"] and len(stuck["outbox"]) == 1
    # The bus comes back: the reconciler publishes what the outbox kept.
    store.bus.inner = parts["bus"]
    assert await store.reconciler.run_once() == 1
    assert await store.tickets.stuck(0.0) == []
    [m] = await parts["bus"].lease([RAW], 10, 30.0)
    assert m.body["ticket_id"] == stuck["id"]
    # The PSA's retry of the refused request is accepted once, then a duplicate.
    again = await store.journal.accept("acme", ident(), b"payload", "webhook", RAW)
    assert not again.duplicate and again.ticket_id == stuck["id"]
    assert (await store.journal.accept("acme", ident(), b"payload", "webhook", RAW)).duplicate


async def test_a_failed_publish_after_a_save_is_republished_by_the_reconciler(parts: dict[str, Any]) -> None:
    store = CompositeStore(docs=parts["docs"], blobs=parts["blobs"], bus=parts["bus"], outbox_grace_s=0.0)
    r = await store.journal.accept("acme", ident(), b"payload", "webhook", RAW)
    ticket = await store.tickets.get("acme", r.ticket_id)
    assert ticket is not None
    ticket.state = TicketState.NORMALIZED
    store.bus.inner = parts["dead_bus"]
    assert await store.tickets.save_and_publish(ticket, "ticket.normalized", {"ticket_id": r.ticket_id})
    saved = await store.tickets.get("acme", r.ticket_id)
    assert saved is not None and saved.state is TicketState.NORMALIZED  # the save stands
    store.bus.inner = parts["bus"]
    assert await store.reconciler.run_once() == 1
    [m] = await parts["bus"].lease(["ticket.normalized"], 10, 30.0)
    assert m.body == {"ticket_id": r.ticket_id}


async def test_the_reconciler_outlives_a_cancelled_error_raised_from_inside_a_pass(
    parts: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A CancelledError that a client library raises inside a pass (not stop()) must not end
    the reconciler: the outbox entry is still re-published on a later pass, and stop() still
    stops it."""
    import asyncio

    store = CompositeStore(
        docs=parts["docs"], blobs=parts["blobs"], bus=parts["dead_bus"],
        outbox_interval_s=0.05, outbox_grace_s=0.0,
    )
    with pytest.raises(Unavailable):
        await store.journal.accept("acme", ident(), b"payload", "webhook", RAW)
    real_stuck = store.tickets.stuck
    calls = 0

    async def stuck_once_cancelled(older_than_s: float, limit: int = 100) -> list[dict[str, Any]]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise asyncio.CancelledError
        return await real_stuck(older_than_s, limit)

    store.tickets.stuck = stuck_once_cancelled  # type: ignore[method-assign]
    store.bus.inner = parts["bus"]
    store.reconciler.start()
    try:
        await eventually(lambda: store.reconciler.republished > 0, timeout_s=10.0)
        assert calls >= 2 and store.reconciler.republished == 1
        assert "cancelled from inside" in caplog.text
    finally:
        await store.reconciler.stop()
    assert store.reconciler._task is None
    [m] = await parts["bus"].lease([RAW], 10, 30.0)
    assert m.body["tenant"] == "acme"


async def test_ingest_is_unavailable_when_the_document_store_is_down(parts: dict[str, Any]) -> None:
    down = CosmosDocuments.connect("https://127.0.0.1:9", COSMOS_KEY, "omega")
    store = CompositeStore(docs=down, blobs=parts["blobs"], bus=parts["bus"])
    try:
        with pytest.raises(Unavailable):
            await store.journal.accept("acme", ident(), b"payload", "webhook", RAW)
        assert await parts["bus"].lease([RAW], 10, 30.0) == []
    finally:
        await down.aclose()


async def test_ingest_is_unavailable_when_blob_storage_is_down(parts: dict[str, Any]) -> None:
    from backends.azure_blob.blobs import AzureBlobStore

    conn = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;"
    )
    blobs = AzureBlobStore.connect(raw_container="raw", audit_container="audit", connection_string=conn)
    store = CompositeStore(docs=parts["docs"], blobs=blobs, bus=parts["bus"])
    try:
        with pytest.raises(Unavailable):
            await store.journal.accept("acme", ident(), b"payload", "webhook", RAW)
        assert await parts["bus"].lease([RAW], 10, 30.0) == []
        assert await store.tickets.list("acme", state=None, limit=10, before=None) == []
    finally:
        await blobs.aclose()
