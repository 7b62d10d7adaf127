"""The ContextService over a real gRPC server on port 0 with a real channel."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from context_helpers import FakeClock, HashingEmbedder, data_dir_bytes
from grpc_health.v1 import health_pb2, health_pb2_grpc
from omega.context.v1 import context_pb2 as pb
from omega.context.v1 import context_pb2_grpc as pb_grpc

from context.audit import AuditLog
from context.embedded_index import EmbeddedIndex
from context.embedding import MicroBatcher
from context.server import SERVICE_NAME, ContextDeps, create_server
from context.service import ContextService
from context.sessions import InMemorySessionStore, RedisSessionStore
from context.settings import ContextSettings

RESOLVED = pb.MEMORY_KIND_RESOLVED_TICKET


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    import redis.asyncio as redis_asyncio

    client = redis_asyncio.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        await client.ping()
    except Exception:  # noqa: BLE001
        await client.aclose()
        pytest.skip("no Redis on 127.0.0.1:6379 (bash .ci/services.sh starts one)")
    prefix = f"omega:test:{uuid.uuid4().hex}"
    yield prefix
    keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def stub(
    tmp_path: Path, clock: FakeClock, embedder: HashingEmbedder, redis_prefix: str
) -> AsyncIterator[pb_grpc.ContextServiceStub]:
    service = ContextService(
        index=EmbeddedIndex(tmp_path / "index", embedder.dim),
        sessions=RedisSessionStore("redis://127.0.0.1:6379/0", prefix=redis_prefix),
        embedder=MicroBatcher(embedder),
        audit=AuditLog(tmp_path / "audit.sqlite"),
        clock=clock,
    )
    srv = create_server(ContextSettings(grpc_addr="127.0.0.1:0"), ContextDeps(service, "default"))
    await srv.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{srv.port}")
    try:
        yield pb_grpc.ContextServiceStub(channel)
    finally:
        await channel.close()
        await srv.stop(0.5)
        await service.close()


async def test_health_reports_serving(tmp_path: Path, embedder: HashingEmbedder) -> None:
    service = ContextService(
        index=EmbeddedIndex(tmp_path / "index", embedder.dim),
        sessions=InMemorySessionStore(),
        embedder=MicroBatcher(embedder),
        audit=AuditLog(tmp_path / "audit.sqlite"),
    )
    srv = create_server(ContextSettings(grpc_addr="127.0.0.1:0"), ContextDeps(service))
    await srv.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{srv.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        resp = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=5)
        assert resp.status == health_pb2.HealthCheckResponse.SERVING
        await srv.health.set(False)
        resp = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=5)
        assert resp.status == health_pb2.HealthCheckResponse.NOT_SERVING
    await srv.stop(0.5)
    await service.close()


async def test_remember_and_recall_over_grpc_with_tenant_from_metadata(
    stub: pb_grpc.ContextServiceStub,
) -> None:
    md = (("x-omega-tenant", "acme"),)
    resp = await stub.Remember(
        pb.RememberRequest(
            kind=RESOLVED,
            text="Laptop of jane@contoso.com shows BSOD 0x0000007e after driver update",
            resolution="rolled back the display driver",
            metadata={"category": "Hardware"},
            source_ticket_id="T-100",
            confirmed=True,
        ),
        metadata=md,
        timeout=5,
    )
    assert resp.memory.tenant == "acme" and "[EMAIL]" in resp.memory.text and resp.redactions == 1
    recall = await stub.Recall(
        pb.RecallRequest(query="BSOD 0x0000007e on laptop", only_confirmed=True, top_k=3),
        metadata=md,
        timeout=5,
    )
    assert [h.memory.source_ticket_id for h in recall.hits] == ["T-100"]
    hit = recall.hits[0]
    assert hit.memory.resolution == "rolled back the display driver"
    assert "0x0000007e" in hit.matched_terms and hit.why
    other = await stub.Recall(pb.RecallRequest(tenant="globex", query="BSOD 0x0000007e"), timeout=5)
    assert list(other.hits) == []


async def test_bad_input_and_missing_things_map_to_status_codes(
    stub: pb_grpc.ContextServiceStub,
) -> None:
    bad = [
        stub.Remember(pb.RememberRequest(tenant="acme", text="x"), timeout=5),
        stub.Recall(pb.RecallRequest(tenant="acme"), timeout=5),
        stub.Recall(pb.RecallRequest(tenant="acme", query="x", top_k=500), timeout=5),
        stub.Recall(pb.RecallRequest(tenant="acme", embedding=[1.0, 2.0]), timeout=5),
        stub.Forget(pb.ForgetRequest(tenant="acme"), timeout=5),
        stub.Recall(pb.RecallRequest(tenant="Not A Tenant", query="x"), timeout=5),
        stub.PutSessionState(pb.PutSessionStateRequest(tenant="acme", session_id=""), timeout=5),
    ]
    for call in bad:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    missing = [
        stub.GetMemory(pb.GetMemoryRequest(tenant="acme", memory_id="mem_nope"), timeout=5),
        stub.GetSessionState(pb.GetSessionStateRequest(tenant="acme", session_id="nope"), timeout=5),
        stub.Forget(pb.ForgetRequest(tenant="acme", memory_id="mem_nope"), timeout=5),
    ]
    for call in missing:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_forget_over_grpc_leaves_nothing_in_any_api_file_or_redis_key(
    stub: pb_grpc.ContextServiceStub, tmp_path: Path, redis_prefix: str
) -> None:
    import redis.asyncio as redis_asyncio

    subject = "erin.example@fabrikam.com"
    m = await stub.Remember(
        pb.RememberRequest(
            tenant="acme", kind=pb.MEMORY_KIND_CONVERSATION_TURN,
            text="erin says the quetzalmarker share is gone", subject_ids=[subject],
        ),
        timeout=5,
    )
    await stub.PutSessionState(
        pb.PutSessionStateRequest(
            tenant="acme", session_id="mcp-7", state=b"quetzalmarker chat", subject_ids=[subject]
        ),
        timeout=5,
    )
    assert (await stub.GetSessionState(
        pb.GetSessionStateRequest(tenant="acme", session_id="mcp-7"), timeout=5
    )).state == b"quetzalmarker chat"
    gone = await stub.Forget(
        pb.ForgetRequest(tenant="acme", subject_id=subject, requested_by="dpo", reason="DSR-1"),
        timeout=5,
    )
    assert (gone.memories_deleted, gone.sessions_deleted) == (1, 1)
    assert gone.audit_record_id.startswith("erase_")
    recall = await stub.Recall(pb.RecallRequest(tenant="acme", query="quetzalmarker share"), timeout=5)
    assert all("quetzalmarker" not in h.memory.text for h in recall.hits)
    for call in (
        stub.GetMemory(pb.GetMemoryRequest(tenant="acme", memory_id=m.memory.memory_id), timeout=5),
        stub.GetSessionState(pb.GetSessionStateRequest(tenant="acme", session_id="mcp-7"), timeout=5),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert b"quetzalmarker" not in data_dir_bytes(tmp_path)
    client = redis_asyncio.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        keys = [k async for k in client.scan_iter(match=f"{redis_prefix}:*")]
        values = [await client.get(k) for k in keys if b":s:" in k]
    finally:
        await client.aclose()
    assert keys == [] and values == []
