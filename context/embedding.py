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
    """Gathers texts arriving within ``window_s`` into one embed call on a worker thread.

    While ``workers`` batches are being embedded, new texts queue up and go together in the
    next call, so under load the model sees batches and the event loop is never blocked.
    ``workers`` > 1 suits an embedder that uses one core per call (the embedded mesh runs
    ONNX Runtime single-threaded with two workers: no cross-thread barriers inside a run,
    which cost twice the CPU per text when the cores are contended).
    """

    def __init__(
        self,
        embedder: Embedder,
        *,
        window_s: float = 0.002,
        max_batch: int = 64,
        nice: int = 0,
        workers: int = 1,
    ) -> None:
        self._embedder = embedder
        self._window_s = window_s
        self._max_batch = max_batch
        self._pending: list[tuple[str, asyncio.Future[np.ndarray]]] = []
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        # nice > 0: background batches (the pipeline's) run at a lower OS priority than ingest.
        # workers > 1: that many batches run at once (for an embedder that uses one core per
        # call; ONNX Runtime sessions take concurrent runs).
        self._workers = max(1, workers)
        self._running: set[asyncio.Task[None]] = set()
        self._pool = ThreadPoolExecutor(
            max_workers=self._workers,
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
        slots = asyncio.Semaphore(self._workers)
        while True:
            if not self._pending:
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), timeout=5.0)
                except TimeoutError:
                    if not self._pending and not self._running:
                        return
                continue
            # An idle batcher sends at once (a lone query pays no window); while batches are
            # running, texts wait up to the window to go together.
            if self._window_s > 0 and self._running and len(self._pending) < self._max_batch:
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
            await slots.acquire()  # a worker thread is free: what is pending now goes together
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            if not batch:
                slots.release()
                continue
            task = asyncio.create_task(self._embed_batch(batch, slots))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _embed_batch(
        self, batch: list[tuple[str, asyncio.Future[np.ndarray]]], slots: asyncio.Semaphore
    ) -> None:
        loop = asyncio.get_running_loop()
        texts = [t for t, _ in batch]
        try:
            vecs = await loop.run_in_executor(self._pool, self._embedder.embed, texts)
        except Exception as exc:  # noqa: BLE001 - handed to every waiting caller
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        finally:
            slots.release()
        self.batches += 1
        self.texts += len(texts)
        for i, (_, fut) in enumerate(batch):
            if not fut.done():
                fut.set_result(np.asarray(vecs[i], dtype=np.float32))

    async def close(self) -> None:
        for task in list(self._running):
            task.cancel()
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        self._pool.shutdown(wait=False, cancel_futures=True)
