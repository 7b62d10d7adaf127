"""Adapters for the shared contract suites, each over a real local server (.ci/services.sh
starts Redis on 6379, Azurite on 10000 and @vercel/cosmosdb-server on 8081).

Every test gets its own key prefix (Redis), database (Cosmos) and containers (Azurite), so
tests never see each other's data and the shared servers are left clean.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from backends.azure_blob.blobs import AzureBlobStore, LocalBlobStore
from backends.composite import CompositeStore
from backends.cosmos.documents import CosmosDocuments
from backends.redis.bus import RedisStreamsBus, connect
from backends.servicebus.bus import ServiceBusBus
from backends.settings import AZURITE_CONNECTION_STRING
from backends.sqlite.adapters import EmbeddedStore

REDIS = ("127.0.0.1", 6379)
AZURITE = ("127.0.0.1", 10000)
COSMOS = ("127.0.0.1", 8081)
COSMOS_ENDPOINT = "https://127.0.0.1:8081"
# The emulator accepts any key; this is the public, well-known emulator key.
COSMOS_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
VISIBILITY_S = 0.4


def require(addr: tuple[str, int], what: str) -> None:
    try:
        socket.create_connection(addr, timeout=0.5).close()
    except OSError:
        pytest.skip(f"{what} is not running on {addr[0]}:{addr[1]} (run .ci/services.sh)")


def unique(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(5)}"


async def redis_bus(host: str = REDIS[0], port: int = REDIS[1]) -> RedisStreamsBus:
    return RedisStreamsBus(connect(host, port), prefix=unique("omega-test-"), group="pipeline")


async def drop_redis_prefix(bus: RedisStreamsBus) -> None:
    client = bus._r
    try:
        async for key in client.scan_iter(match=f"{bus._prefix}:*"):
            await client.delete(key)
    finally:
        await bus.aclose()


async def cosmos_docs() -> CosmosDocuments:
    docs = CosmosDocuments.connect(COSMOS_ENDPOINT, COSMOS_KEY, unique("omegatest"))
    await docs.ensure_containers()
    return docs


async def drop_cosmos(docs: CosmosDocuments) -> None:
    try:
        await docs.client.delete_database(docs.database.id)
    except Exception:  # noqa: BLE001 - the emulator is in-memory; leftovers vanish on restart
        pass
    await docs.aclose()


async def azurite_blobs() -> AzureBlobStore:
    store = AzureBlobStore.connect(
        raw_container=unique("raw-"),
        audit_container=unique("audit-"),
        connection_string=AZURITE_CONNECTION_STRING,
    )
    await store.ensure_containers()
    return store


@pytest.fixture(params=["sqlite", "redis", "servicebus-standin"])
async def bus(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    if request.param == "sqlite":
        store = EmbeddedStore.open(tmp_path / "omega.db")
        yield store.bus
        store.close()
    elif request.param == "redis":
        require(REDIS, "redis")
        b = await redis_bus()
        yield b
        await drop_redis_prefix(b)
    else:
        from tests.backends.servicebus_standin import StandInBroker, StandInClient

        broker = StandInBroker(VISIBILITY_S, ["pipeline"])
        yield ServiceBusBus(StandInClient(broker), consumer="pipeline", receive_wait_s=0.0)


@pytest.fixture(params=["local", "azurite"])
async def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    if request.param == "local":
        yield LocalBlobStore(tmp_path / "blobs")
    else:
        require(AZURITE, "azurite")
        store = await azurite_blobs()
        yield store
        await store.aclose()


@pytest.fixture(params=["sqlite", "cosmos+azurite+redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """A whole store (journal, tickets, dead letters, bus, timeline, features)."""
    if request.param == "sqlite":
        s = EmbeddedStore.open(tmp_path / "omega.db")
        s.kind = "sqlite"
        yield s
        s.close()
        return
    for addr, what in ((REDIS, "redis"), (AZURITE, "azurite"), (COSMOS, "cosmosdb-server")):
        require(addr, what)
    docs = await cosmos_docs()
    blob_store = await azurite_blobs()
    b = await redis_bus()
    c = CompositeStore(docs=docs, blobs=blob_store, bus=b, outbox_grace_s=0.0)
    c.kind = "composite"
    yield c
    await c.reconciler.stop()
    await drop_redis_prefix(b)
    await blob_store.aclose()
    await drop_cosmos(docs)
