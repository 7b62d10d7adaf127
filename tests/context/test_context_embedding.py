"""The micro-batcher and, when its weights are installed, the real MiniLM model end to end."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from context_helpers import FakeClock, HashingEmbedder, make_service

from context.embedding import Embedder, MicroBatcher
from context.models import MemoryKind


class GatedEmbedder(HashingEmbedder):
    """Blocks the first embed call until released, so later callers queue up behind it."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def embed(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        if not self.calls:
            self.entered.set()
            assert self.release.wait(5), "test never released the first batch"
        return super().embed(texts, batch_size=batch_size)


async def test_concurrent_queries_share_one_embed_call() -> None:
    model = GatedEmbedder()
    batcher = MicroBatcher(model, window_s=0.0)
    try:
        first = asyncio.create_task(batcher.embed_one("first query"))
        assert await asyncio.to_thread(model.entered.wait, 5)
        rest = [asyncio.create_task(batcher.embed_one(f"query number {i}")) for i in range(10)]
        await asyncio.sleep(0)  # let the tasks enqueue (no timing involved)
        model.release.set()
        vecs = await asyncio.wait_for(asyncio.gather(first, *rest), timeout=5)
        assert model.calls == [1, 10]
        assert np.allclose(vecs[3], model.embed(["query number 2"])[0])
    finally:
        await batcher.close()


async def test_embed_errors_reach_every_waiting_caller() -> None:
    class Broken(HashingEmbedder):
        def embed(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
            raise RuntimeError("model crashed")

    batcher = MicroBatcher(Broken(), window_s=0.001)
    try:
        results = await asyncio.wait_for(
            asyncio.gather(*(batcher.embed_one("x") for _ in range(3)), return_exceptions=True), 5
        )
        assert all(isinstance(r, RuntimeError) for r in results)
    finally:
        await batcher.close()


def _real_model() -> Embedder:
    try:
        from titans.local.embedding import MiniLMEmbedder

        model: Embedder = MiniLMEmbedder.load()
    except Exception as exc:  # noqa: BLE001 - any missing piece means "not installed here"
        pytest.skip(f"MiniLM weights not available: {exc}")
    return model


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    return _real_model()


def test_real_model_satisfies_the_embedder_port(minilm: Embedder) -> None:
    assert isinstance(minilm, Embedder)
    vecs = minilm.embed(["printer jam", "paper stuck in the printer", "reset my vpn password"])
    assert vecs.shape == (3, minilm.dim) and minilm.dim == 384
    assert float(vecs[0] @ vecs[1]) > float(vecs[0] @ vecs[2])


async def test_recall_with_minilm_finds_paraphrases(
    tmp_path: Path, clock: FakeClock, minilm: Embedder
) -> None:
    svc = make_service(tmp_path, clock, minilm)  # type: ignore[arg-type]
    try:
        await svc.remember("acme", MemoryKind.RESOLVED_TICKET, "paper stuck inside the office printer",
                           resolution="opened tray 2 and removed the sheet", confirmed=True)
        await svc.remember("acme", MemoryKind.RESOLVED_TICKET, "cannot connect to vpn from home",
                           resolution="reinstalled the vpn client", confirmed=True)
        await svc.remember("acme", MemoryKind.RESOLVED_TICKET, "new starter needs a laptop",
                           resolution="ordered a laptop", confirmed=True)
        hits = await svc.recall("acme", text="the printer has a jam", only_confirmed=True, top_k=3)
        assert hits[0].memory.resolution == "opened tray 2 and removed the sheet"
        hits = await svc.recall("acme", text="remote access tunnel will not come up", top_k=1)
        assert hits[0].memory.resolution == "reinstalled the vpn client"
    finally:
        await svc.close()
