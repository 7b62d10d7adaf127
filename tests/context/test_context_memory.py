"""Long-term memory through the domain service over the embedded index (SQLite + IVF)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from context_helpers import FakeClock, HashingEmbedder, data_dir_bytes, make_service

from context.embedded_index import EmbeddedIndex
from context.models import EraseSelector, MemoryKind, MemoryRecord, RecallQuery
from context.service import ContextService
from federation.errors import InvalidArgument, NotFound

RESOLVED = MemoryKind.RESOLVED_TICKET


async def test_remember_then_recall_returns_the_similar_memory(service: ContextService) -> None:
    await service.remember("acme", RESOLVED, "printer on floor 2 jams paper", resolution="cleaned rollers")
    await service.remember("acme", RESOLVED, "vpn client cannot connect after update")
    hits = await service.recall("acme", text="the printer keeps jamming paper", top_k=2)
    assert hits[0].memory.resolution == "cleaned rollers"
    assert hits[0].score >= hits[1].score
    assert "printer" in hits[0].matched_terms


async def test_same_source_ticket_is_deduplicated(service: ContextService) -> None:
    first = await service.remember("acme", RESOLVED, "disk full on file server", source_ticket_id="T-1")
    second = await service.remember(
        "acme", RESOLVED, "disk full on file server again", source_ticket_id="T-1", confirmed=True
    )
    assert not first.deduplicated and second.deduplicated
    assert first.memory.memory_id == second.memory.memory_id
    hits = await service.recall("acme", text="disk full", top_k=10)
    assert len(hits) == 1 and hits[0].memory.confirmed


async def test_ttl_expiry_deletes_the_memory_from_every_store_file(
    tmp_path: Path, clock: FakeClock, embedder: HashingEmbedder
) -> None:
    svc = make_service(tmp_path, clock, embedder)
    try:
        kept = await svc.remember("acme", MemoryKind.CONVERSATION_TURN, "keep quokkamarker around")
        gone = await svc.remember(
            "acme", MemoryKind.CONVERSATION_TURN, "short lived wombatmarker note", ttl_s=60
        )
        assert b"wombatmarker" in data_dir_bytes(tmp_path)
        clock.advance(59)
        assert (await svc.get_memory("acme", gone.memory.memory_id)).text
        clock.advance(2)
        assert await svc.recall("acme", text="wombatmarker", top_k=5) == [] or all(
            h.memory.memory_id != gone.memory.memory_id
            for h in await svc.recall("acme", text="wombatmarker", top_k=5)
        )
        with pytest.raises(NotFound):
            await svc.get_memory("acme", gone.memory.memory_id)
        assert await svc.get_memory("acme", kept.memory.memory_id)
        assert b"wombatmarker" not in data_dir_bytes(tmp_path)
        assert b"quokkamarker" in data_dir_bytes(tmp_path)
    finally:
        await svc.close()


async def test_sweeper_pass_deletes_expired_memories_and_sessions(
    tmp_path: Path, clock: FakeClock, embedder: HashingEmbedder
) -> None:
    svc = make_service(tmp_path, clock, embedder)
    try:
        await svc.remember("acme", RESOLVED, "expiring numbatmarker", ttl_s=10)
        await svc.put_session_state("acme", "s1", b"{}", ttl_s=10)
        clock.advance(11)
        assert await svc.sweep() == 2
        assert b"numbatmarker" not in data_dir_bytes(tmp_path)
        with pytest.raises(NotFound):
            await svc.get_session_state("acme", "s1")
    finally:
        await svc.close()


async def test_forget_by_subject_leaves_nothing_findable(
    tmp_path: Path, clock: FakeClock, embedder: HashingEmbedder
) -> None:
    svc = make_service(tmp_path, clock, embedder)
    try:
        await svc.remember("acme", RESOLVED, "jane.doe@contoso.com reports okapimarker outage")
        await svc.remember("acme", MemoryKind.TECHNICIAN_NOTE, "called about tapirmarker", subject_ids=["Jane.Doe@contoso.com"])
        other = await svc.remember("acme", RESOLVED, "bob@contoso.com reports lemurmarker outage")
        await svc.put_session_state("acme", "chat-1", b"tapirmarker chat", subject_ids=["jane.doe@contoso.com"])
        result = await svc.forget("acme", subject_id="jane.doe@contoso.com", requested_by="dpo", reason="GDPR-17")
        assert (result.memories_deleted, result.sessions_deleted) == (2, 1)
        assert result.audit_record_id
        for word in ("okapimarker", "tapirmarker"):
            assert all(word not in h.memory.text for h in await svc.recall("acme", text=word, top_k=10))
        with pytest.raises(NotFound):
            await svc.get_session_state("acme", "chat-1")
        blob = data_dir_bytes(tmp_path)
        assert b"okapimarker" not in blob and b"tapirmarker" not in blob
        assert b"jane.doe" not in blob.lower()
        assert b"lemurmarker" in blob
        assert (await svc.get_memory("acme", other.memory.memory_id)).text
    finally:
        await svc.close()


async def test_forget_by_ticket_memory_and_tenant(
    tmp_path: Path, clock: FakeClock, embedder: HashingEmbedder
) -> None:
    svc = make_service(tmp_path, clock, embedder)
    try:
        await svc.remember("acme", RESOLVED, "ticket one slothmarker", source_ticket_id="T-9")
        await svc.remember("acme", MemoryKind.TECHNICIAN_NOTE, "note slothmarker", source_ticket_id="T-9")
        single = await svc.remember("acme", RESOLVED, "single koalamarker")
        await svc.remember("globex", RESOLVED, "globex pandamarker")
        await svc.put_session_state("globex", "g1", b"x")
        assert (await svc.forget("acme", source_ticket_id="T-9")).memories_deleted == 2
        assert (await svc.forget("acme", memory_id=single.memory.memory_id)).memories_deleted == 1
        with pytest.raises(NotFound):
            await svc.forget("acme", memory_id=single.memory.memory_id)
        gone = await svc.forget("globex", entire_tenant=True)
        assert (gone.memories_deleted, gone.sessions_deleted) == (1, 1)
        blob = data_dir_bytes(tmp_path)
        for word in (b"slothmarker", b"koalamarker", b"pandamarker"):
            assert word not in blob
        assert await svc.recall("globex", text="pandamarker") == []
        assert not (tmp_path / "index" / "globex").exists()
    finally:
        await svc.close()


async def test_forget_needs_exactly_one_selector(service: ContextService) -> None:
    with pytest.raises(InvalidArgument):
        await service.forget("acme")
    with pytest.raises(InvalidArgument):
        await service.forget("acme", subject_id="a@b.c", source_ticket_id="T-1")


async def test_tenant_cannot_recall_another_tenants_memories_even_with_crafted_filter(
    service: ContextService,
) -> None:
    b = await service.remember("b", RESOLVED, "secret merger plan for globex", metadata={"tenant": "b"})
    await service.remember("a", RESOLVED, "printer toner empty", metadata={"team": "x"})
    crafted = [
        await service.recall("a", text="secret merger plan for globex", top_k=100),
        await service.recall("a", text="secret merger", metadata_filter={"tenant": "b"}),
        await service.recall("a", text="secret merger", metadata_filter={"tenant": "b' OR 1=1 --"}),
    ]
    for hits in crafted:
        assert all(h.memory.tenant == "a" for h in hits)
        assert all("merger" not in h.memory.text for h in hits)
    with pytest.raises(NotFound):
        await service.get_memory("a", b.memory.memory_id)
    with pytest.raises(InvalidArgument):
        await service.recall("../b", text="secret")


async def test_hybrid_ranking_prefers_the_exact_error_code(service: ContextService) -> None:
    await service.remember("acme", RESOLVED, "outlook shows error 0x80070005 when sending mail")
    await service.remember("acme", RESOLVED, "outlook shows error 0x800ccc0e when sending mail")
    await service.remember("acme", RESOLVED, "teams crashes on start")
    hits = await service.recall("acme", text="outlook error 0x800ccc0e", top_k=3)
    assert "0x800ccc0e" in hits[0].memory.text
    assert "0x800ccc0e" in hits[0].matched_terms
    assert hits[0].keyword_score == pytest.approx(1.0)
    assert hits[0].keyword_score > hits[1].keyword_score
    assert "matched" in hits[0].why


async def test_filters_by_kind_confirmation_and_metadata(service: ContextService) -> None:
    await service.remember("acme", RESOLVED, "reset mfa for user", confirmed=True, metadata={"queue": "l1"})
    await service.remember("acme", RESOLVED, "reset mfa token again", confirmed=False, metadata={"queue": "l1"})
    await service.remember("acme", MemoryKind.KB_ARTICLE, "how to reset mfa", metadata={"queue": "l2"})
    confirmed = await service.recall("acme", text="reset mfa", only_confirmed=True, top_k=10)
    assert [h.memory.text for h in confirmed] == ["reset mfa for user"]
    kb = await service.recall("acme", text="reset mfa", kinds=[MemoryKind.KB_ARTICLE], top_k=10)
    assert [h.memory.kind for h in kb] == [MemoryKind.KB_ARTICLE]
    l1 = await service.recall("acme", text="reset mfa", metadata_filter={"queue": "l1"}, top_k=10)
    assert len(l1) == 2 and all(h.memory.metadata["queue"] == "l1" for h in l1)


async def test_recall_with_a_precomputed_embedding_skips_the_model(
    service: ContextService, embedder: HashingEmbedder
) -> None:
    await service.remember("acme", RESOLVED, "wifi drops in meeting room")
    vec = embedder.embed(["wifi drops in meeting room"])[0]
    calls = len(embedder.calls)
    hits = await service.recall("acme", embedding=vec.tolist(), top_k=1)
    assert hits[0].semantic_score == pytest.approx(1.0, abs=1e-5)
    assert len(embedder.calls) == calls


async def test_bad_input_is_invalid_argument(service: ContextService) -> None:
    with pytest.raises(InvalidArgument):
        await service.remember("acme", 0, "x")
    with pytest.raises(InvalidArgument):
        await service.remember("acme", RESOLVED, "   ")
    with pytest.raises(InvalidArgument):
        await service.remember("acme", RESOLVED, "x", ttl_s=-1)
    with pytest.raises(InvalidArgument):
        await service.recall("acme", text="")
    with pytest.raises(InvalidArgument):
        await service.recall("acme", text="x", top_k=1000)
    with pytest.raises(InvalidArgument):
        await service.recall("acme", embedding=[0.1, 0.2])
    with pytest.raises(InvalidArgument):
        await service.remember("Bad Tenant", RESOLVED, "x")


def _clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, dim))
    x = centres[rng.integers(0, 40, n)] + 0.6 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_ivf_index_matches_exact_search_and_really_deletes(tmp_path: Path) -> None:
    dim = 384
    index = EmbeddedIndex(tmp_path, dim, ivf_min_rows=1000, nprobe=8)
    vecs = _clustered(3000, dim, 1)
    recs = [
        (MemoryRecord(memory_id=f"m{i}", tenant="acme", kind=RESOLVED, text=f"memo {i}"), vecs[i])
        for i in range(3000)
    ]
    index.upsert_many_sync(recs[:2500])
    index.upsert_many_sync(recs[2500:])  # a tail added after training
    queries = _clustered(50, dim, 2)
    overlap = [
        len(set(index.vector_search_sync("acme", q, 10)) & set(index.vector_search_sync("acme", q, 10, exact=True)))
        / 10
        for q in queries
    ]
    assert np.mean(overlap) >= 0.9
    target = index.vector_search_sync("acme", vecs[2700], 1, exact=True)[0]
    assert target == "m2700"
    assert index.delete_sync(EraseSelector("acme", memory_id="m2700")) == 1
    assert index.delete_sync(EraseSelector("acme", memory_id="m5")) == 1
    assert "m2700" not in index.vector_search_sync("acme", vecs[2700], 10)
    assert index.vector_search_sync("acme", vecs[6], 1)[0] == "m6"
    assert index.vector_search_sync("acme", vecs[2999], 1)[0] == "m2999"
    hits = index.search_sync(RecallQuery(tenant="acme", embedding=vecs[100], top_k=1), now=0.0)
    assert hits[0].memory.memory_id == "m100"
