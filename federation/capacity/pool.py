"""The WorkerPool port the Capacity Manager drives, and an in-process asyncio implementation.

On Kubernetes KEDA scales the pods (through ``federation.capacity.keda``); locally the manager
starts and stops workers itself through a ``WorkerPool``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from federation.errors import NotFound

log = logging.getLogger(__name__)

Worker = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
"""A worker: runs until its stop event is set (finishing the message in hand), then returns."""


class WorkerPool(Protocol):
    """Starts and stops a team's workers."""

    async def size(self, team: str) -> int:
        """Workers of ``team`` running now."""
        ...

    async def scale(self, team: str, workers: int) -> int:
        """Start or stop workers until ``team`` has ``workers``; returns the new size."""
        ...


@dataclass
class _Running:
    task: asyncio.Task[None]
    stop: asyncio.Event


class AsyncioWorkerPool:
    """Each worker is an asyncio task made by the team's ``Worker`` factory.

    Scaling down stops the newest workers first: their stop event is set and they get
    ``stop_grace_s`` to return before being cancelled. A worker that ends without being told to
    (a crash, or a stray CancelledError) is logged and no longer counted, so the next reconcile
    starts a replacement.
    """

    def __init__(self, workers: Mapping[str, Worker], *, stop_grace_s: float = 10.0) -> None:
        self._factories = dict(workers)
        self._stop_grace_s = stop_grace_s
        self._running: dict[str, list[_Running]] = {team: [] for team in self._factories}
        self._lock = asyncio.Lock()

    async def size(self, team: str) -> int:
        return len(self._alive(team))

    async def scale(self, team: str, workers: int) -> int:
        async with self._lock:
            running = self._alive(team)
            while len(running) < workers:
                stop = asyncio.Event()
                task: asyncio.Task[None] = asyncio.get_running_loop().create_task(
                    self._factories[team](stop)
                )
                task.add_done_callback(functools.partial(_log_exit, team, stop))
                running.append(_Running(task, stop))
            surplus = running[workers:] if workers < len(running) else []
            del running[len(running) - len(surplus):]
            if surplus:
                log.info("stopping %s %s worker(s)", len(surplus), team)
                await _stop_all(surplus, self._stop_grace_s)
            return len(running)

    async def aclose(self) -> None:
        """Stop every worker of every team."""
        async with self._lock:
            everyone = [r for runs in self._running.values() for r in runs]
            for runs in self._running.values():
                runs.clear()
            await _stop_all(everyone, self._stop_grace_s)

    def _alive(self, team: str) -> list[_Running]:
        if team not in self._factories:
            raise NotFound(f"no workers for team {team!r}", reason="UNKNOWN_TEAM")
        runs = self._running[team]
        runs[:] = [r for r in runs if not r.task.done()]
        return runs


async def _stop_all(runs: list[_Running], grace_s: float) -> None:
    for r in runs:
        r.stop.set()
    tasks = [r.task for r in runs]
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=grace_s)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def _log_exit(team: str, stop: asyncio.Event, task: asyncio.Task[None]) -> None:
    """Log a worker that ended without being told to stop (it is no longer counted, so the
    next reconcile starts another): a crash, or a CancelledError raised from inside a library
    rather than by ``_stop_all``."""
    if stop.is_set():
        return  # scaled down or closed: expected
    if task.cancelled():
        log.error("a %s worker was cancelled without being stopped", team)
        return
    exc = task.exception()
    if exc is not None:
        log.error("a %s worker crashed: %s", team, type(exc).__name__, exc_info=exc)
    else:
        log.error("a %s worker returned without being stopped", team)
