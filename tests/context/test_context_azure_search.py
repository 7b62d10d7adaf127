"""The Azure AI Search adapter against a local stand-in of its REST API.

The stand-in (tests/context/azure_search_standin.py) is not Azure: it implements the few
endpoints the adapter uses and checks the wire format (api-key header, api-version, JSON shapes,
vector dimensions, the OData filter subset). Behaviour of the real service (HNSW recall, BM25
scoring) is not reproduced beyond what the tests below need.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from azure_search_standin import API_KEY, API_VERSION, SearchStandIn, serve_search_standin
from context_helpers import FakeClock, HashingEmbedder

from context.audit import AuditLog
from context.azure_search import AzureSearchIndex
from context.embedding import MicroBatcher
from context.models import MemoryKind
from context.service import ContextService
from context.sessions import InMemorySessionStore
from federation.errors import NotFound, Unavailable

RESOLVED = MemoryKind.RESOLVED_TICKET


@pytest.fixture
async def standin() -> AsyncIterator[SearchStandIn]:
    async with serve_search_standin() as s:
        yield s


def _index(standin: SearchStandIn, key: str = API_KEY) -> AzureSearchIndex:
    return AzureSearchIndex(
        endpoint=standin.base_url, api_key=key, index_name="omega-memories", dim=384,
        api_version=API_VERSION,
    )


@pytest.fixture
async def service(
    standin: SearchStandIn, tmp_path: Path, clock: FakeClock, embedder: HashingEmbedder
) -> AsyncIterator[ContextService]:
    svc = ContextService(
        index=_index(standin),
        sessions=InMemorySessionStore(clock),
        embedder=MicroBatcher(embedder, window_s=0.0),
        audit=AuditLog(tmp_path / "audit.sqlite"),
        clock=clock,
    )
    yield svc
    await svc.close()


async def test_index_schema_has_a_384d_hnsw_vector_and_a_tenant_filter(
    service: ContextService, standin: SearchStandIn
) -> None:
    await service.remember("acme", RESOLVED, "printer jam on floor 3")
    assert standin.schema is not None and standin.bad_requests == []
    fields = {f["name"]: f for f in standin.schema["fields"]}
    assert fields["embedding"]["dimensions"] == 384
    assert fields["tenant"]["filterable"] and fields["subject_hashes"]["retrievable"] is False
    assert standin.schema["vectorSearch"]["algorithms"][0]["kind"] == "hnsw"
    doc = next(iter(standin.docs.values()))
    assert doc["tenant"] == "acme" and len(doc["embedding"]) == 384


async def test_recall_is_hybrid_and_always_tenant_filtered(
    service: ContextService, standin: SearchStandIn
) -> None:
    await service.remember("acme", RESOLVED, "outlook error 0x800ccc0e when sending", confirmed=True,
                           metadata={"queue": "mail"})
    await service.remember("acme", RESOLVED, "outlook error 0x80070005 when sending")
    await service.remember("b", RESOLVED, "outlook error 0x800ccc0e secret of tenant b",
                           metadata={"tenant": "b"})
    hits = await service.recall("acme", text="outlook 0x800ccc0e", top_k=5)
    assert hits[0].memory.text.startswith("outlook error 0x800ccc0e when")
    assert "0x800ccc0e" in hits[0].matched_terms and hits[0].semantic_score > 0
    assert all(h.memory.tenant == "acme" for h in hits)
    for crafted in ({"tenant": "b"}, {"queue": "x' or tenant eq 'b"}):
        assert await service.recall("acme", text="secret of tenant b", metadata_filter=crafted) == []
    confirmed = await service.recall("acme", text="outlook", only_confirmed=True,
                                     kinds=[RESOLVED], metadata_filter={"queue": "mail"})
    assert [h.memory.metadata["queue"] for h in confirmed] == ["mail"]
    assert standin.searches and all(
        s["filter"].startswith("tenant eq 'acme' and ") for s in standin.searches
    )
    assert any("vectorQueries" in s for s in standin.searches)
    assert standin.bad_requests == []


async def test_forget_and_ttl_delete_documents_from_the_service(
    service: ContextService, standin: SearchStandIn, clock: FakeClock
) -> None:
    await service.remember("acme", RESOLVED, "ana@x.com vpn issue", source_ticket_id="T-1")
    await service.remember("acme", RESOLVED, "disk full", source_ticket_id="T-2")
    short = await service.remember("acme", RESOLVED, "temporary note", ttl_s=30)
    await service.remember("globex", RESOLVED, "globex memory")
    assert (await service.forget("acme", subject_id="ANA@x.com")).memories_deleted == 1
    assert (await service.forget("acme", source_ticket_id="T-2")).memories_deleted == 1
    clock.advance(31)
    assert await service.recall("acme", text="temporary note") == []
    with pytest.raises(NotFound):
        await service.get_memory("acme", short.memory.memory_id)
    assert short.memory.memory_id not in standin.docs
    assert {d["tenant"] for d in standin.docs.values()} == {"globex"}
    assert (await service.forget("globex", entire_tenant=True)).memories_deleted == 1
    assert standin.docs == {} and standin.bad_requests == []


async def test_another_tenants_memory_id_is_not_found(
    service: ContextService, standin: SearchStandIn
) -> None:
    b = await service.remember("b", RESOLVED, "tenant b only")
    with pytest.raises(NotFound):
        await service.get_memory("acme", b.memory.memory_id)


async def test_wrong_api_key_is_unavailable_not_a_silent_empty_answer(standin: SearchStandIn) -> None:
    index = _index(standin, key="wrong")
    try:
        with pytest.raises(Unavailable):
            await index.ensure_index()
        assert standin.bad_requests == ["bad api-key"]
    finally:
        await index.close()


async def test_unreachable_service_is_unavailable() -> None:
    index = AzureSearchIndex(endpoint="http://127.0.0.1:9", api_key="k", index_name="i", dim=384,
                             client=httpx.AsyncClient(timeout=1.0))
    try:
        with pytest.raises(Unavailable):
            await index.ensure_index()
    finally:
        await index.close()
