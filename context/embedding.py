"""The embedding port and a micro-batcher that shares one model between concurrent queries."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, runtime_checkable

import numpy as np

from titans.local.onnx_encoder import lower_thread_priority

log = logging.getLogger(__name__)


@runtime_checkable
class Embedder(Protocol):
    """A sentence embedder: L2-normalised float32 rows, one per text."""

    @property
    def dim(self) -> int: ...

    @property
    def model_id(self) -> str: ...

    def embed(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray: ...


def load_default_embedder() -> Embedder:
    """The local MiniLM model (loaded once per process by whoever calls this)."""
    from titans.local.embedding import MiniLMEmbedder

    embedder: Embedder = MiniLMEmbedder.load()
    return embedder


class MicroBatcher:
    """Gathers texts arriving within ``window_s`` into one embed call on a single worker thread.

    While a batch is being embedded, new texts queue up and go together in the next call, so
    under load the model sees batches and the event loop is never blocked.
    """

    def __init__(
        self, embedder: Embedder, *, window_s: float = 0.002, max_batch: int = 64, nice: int = 0
    ) -> None:
        self._embedder = embedder
        self._window_s = window_s
        self._max_batch = max_batch
        self._pending: list[tuple[str, asyncio.Future[np.ndarray]]] = []
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        # nice > 0: background batches (the pipeline's) run at a lower OS priority than ingest.
        self._pool = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="embed",
            initializer=lower_thread_priority,
            initargs=(nice,),
        )
        self.batches = 0
        self.texts = 0

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    async def embed_one(self, text: str) -> np.ndarray:
        """The embedding of one text, batched with concurrent callers."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[np.ndarray] = loop.create_future()
        self._pending.append((text, fut))
        if self._worker is None or self._worker.done():
            self._wakeup = asyncio.Event()
            self._worker = asyncio.create_task(self._run())
        assert self._wakeup is not None
        self._wakeup.set()
        return await fut

    async def embed_many(self, texts: Sequence[str]) -> np.ndarray:
        """Embed a batch directly on the worker thread (for bulk writes)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._embedder.embed, list(texts))

    async def _run(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), timeout=5.0)
                except TimeoutError:
                    if not self._pending:
                        return
                continue
            if self._window_s > 0 and len(self._pending) < self._max_batch:
                deadline = time.perf_counter() + self._window_s
                while len(self._pending) < self._max_batch:
                    left = deadline - time.perf_counter()
                    if left <= 0:
                        break
                    self._wakeup.clear()
                    try:
                        await asyncio.wait_for(self._wakeup.wait(), timeout=left)
                    except TimeoutError:
                        break
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            texts = [t for t, _ in batch]
            try:
                vecs = await loop.run_in_executor(self._pool, self._embedder.embed, texts)
            except Exception as exc:  # noqa: BLE001 - handed to every waiting caller
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            self.batches += 1
            self.texts += len(texts)
            for i, (_, fut) in enumerate(batch):
                if not fut.done():
                    fut.set_result(np.asarray(vecs[i], dtype=np.float32))

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        self._pool.shutdown(wait=False, cancel_futures=True)
