"""The pipeline runner: leases bus messages, runs the step for their topic, retries, dead-letters.

Delivery is at-least-once; every step is idempotent (it checks the ticket's state and the
arrival sequence it last applied), so the effect is exactly-once. A step that raises
``PermanentStepError`` is dead-lettered at once; any other error is retried with exponential
backoff until ``max_attempts``, then dead-lettered with its reason and the ticket marked FAILED.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from backends.records import Message, TicketEvent, TicketState
from backends.sqlite.adapters import EmbeddedStore
from federation.errors import cancelled_by_caller

log = logging.getLogger(__name__)


class PermanentStepError(Exception):
    """Retrying cannot help (the payload cannot be normalized): dead-letter now."""


class Step(Protocol):
    name: str

    async def handle(self, body: Mapping[str, Any]) -> str:
        """Do the step for one message; returns "ok" or "skipped" (already done)."""
        ...


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int = 5
    visibility_s: float = 30.0
    backoff_s: float = 0.5
    backoff_max_s: float = 60.0
    batch: int = 32  # deliveries in flight per worker (a new lease as soon as one finishes)
    idle_poll_s: float = 0.5
    # Ingest first. While a burst is being accepted, workers lease nothing new for up to
    # ``max_yield_s``, then lease at most ``batch_while_yielding`` and hold back again: in a
    # burst that does not end each worker still moves that many tickets every ``max_yield_s``
    # (nothing starves), but on 2 cores every delivery run during a burst is CPU an accepting
    # call waits for (bench/ingest, docs/benchmarks.md).
    max_yield_s: float = 5.0
    batch_while_yielding: int = 1

    def delay(self, attempt: int) -> float:
        base: float = min(self.backoff_max_s, self.backoff_s * 2 ** max(0, attempt - 1))
        return base * (0.75 + random.random() / 2)  # noqa: S311 - jitter


async def _sleep_unless(stop: asyncio.Event, timeout_s: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=timeout_s)
    except TimeoutError:
        pass


class PipelineRunner:
    """Runs the steps of the embedded pipeline as asyncio tasks in this process."""

    def __init__(
        self,
        store: EmbeddedStore,
        steps: list[Step],
        policy: DeliveryPolicy,
        *,
        yield_to: Callable[[], bool] | None = None,
    ) -> None:
        self._store = store
        self._steps = {s.name: s for s in steps}
        self._policy = policy
        # True while something more urgent runs in this process (an ingest burst): no new
        # leases then, for at most ``policy.max_yield_s`` at a time, so nothing starves.
        self._yield_to = yield_to
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.handled = 0
        self.yields = 0  # times the workers held back for an ingest burst
        self.restarts = 0  # workers started again after they ended unexpectedly

    @property
    def topics(self) -> list[str]:
        return list(self._steps)

    def start(self, workers: int = 1) -> None:
        for i in range(max(1, workers)):
            self._tasks.append(asyncio.create_task(self._supervise(i), name=f"pipeline-{i}"))

    async def _supervise(self, number: int) -> None:
        """Run one worker until ``stop``; a worker that ends any other way (an exception that
        escaped it, or a CancelledError raised from inside a library rather than by ``stop``)
        is logged and started again, so a fixed runner never silently runs short of workers.
        (Under a Capacity Manager the worker pool does the same on its next reconcile.)"""
        while not self._stop.is_set():
            try:
                await self.work(self._stop)
            except asyncio.CancelledError:
                if self._stop.is_set() or cancelled_by_caller():
                    raise
                log.error("pipeline worker %d was cancelled from inside; starting it again", number)
            except Exception:
                log.exception("pipeline worker %d crashed; starting it again", number)
            else:
                return
            self.restarts += 1
            await _sleep_unless(self._stop, self._policy.idle_poll_s)

    async def stop(self) -> None:
        self._stop.set()
        self._store.bus.notify()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def work(
        self,
        stop: asyncio.Event,
        *,
        on_leased: Callable[[], None] | None = None,
        on_done: Callable[[], None] | None = None,
    ) -> None:
        """Lease and deliver this runner's messages until ``stop`` is set.

        Keeps up to ``policy.batch`` deliveries in flight and leases again as soon as one
        finishes, so a slow ticket never holds back the ones behind it (leasing a batch and
        waiting for all of it made each ticket wait for the slowest of its batch: seconds at
        50 tickets/s). On ``stop`` the deliveries in flight finish; on cancellation they are
        cancelled and their leases expire, which delivers them again.
        """
        bus, policy = self._store.bus, self._policy
        in_flight: set[asyncio.Task[None]] = set()

        async def tracked(message: Message) -> None:
            try:
                await self.deliver(message)
            finally:
                if on_done is not None:
                    on_done()

        try:
            while not stop.is_set():
                cap = policy.batch
                if self._yield_to is not None and self._yield_to():
                    await self._yield(stop)
                    cap = policy.batch_while_yielding
                free = cap - len(in_flight)
                if free <= 0:
                    await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    continue
                try:
                    messages = await bus.lease(self.topics, free, policy.visibility_s)
                except Exception:  # noqa: BLE001 - the store may be briefly unavailable
                    log.exception("lease failed; retrying")
                    await _sleep_unless(stop, policy.idle_poll_s)
                    continue
                if not messages:
                    await bus.wait_for_work(policy.idle_poll_s)
                    continue
                for message in messages:
                    if on_leased is not None:
                        on_leased()
                    task = asyncio.create_task(tracked(message))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
        except asyncio.CancelledError:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
            raise
        await asyncio.gather(*in_flight, return_exceptions=True)

    async def _yield(self, stop: asyncio.Event) -> None:
        """Hold back new leases while ``yield_to()`` says so, up to ``max_yield_s``."""
        assert self._yield_to is not None
        deadline = time.monotonic() + self._policy.max_yield_s
        # The condition belongs to ingest (a counter, no event): a 10 ms poll is enough.
        while self._yield_to() and time.monotonic() < deadline and not stop.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        self.yields += 1

    async def deliver(self, message: Message) -> None:
        """Run one leased message's step, then ack, retry or dead-letter it, and record the
        timeline. Never raises: a message that cannot even be settled (the store is down) is
        left to its lease, which expires and delivers it again; the worker keeps running. A
        CancelledError that a client library raises (aiohttp can, on a dropped connection) is
        treated the same way; only a real cancellation of this delivery propagates."""
        try:
            await self._deliver(message)
        except asyncio.CancelledError:
            if cancelled_by_caller():
                raise
            log.error(
                "delivery of message %s (%s) was cancelled from inside; its lease will expire and"
                " deliver it again", message.id, message.topic,
            )
        except Exception as exc:  # noqa: BLE001 - see the docstring
            log.error("could not settle message %s (%s): %s", message.id, message.topic, exc)

    async def _deliver(self, message: Message) -> None:
        step = self._steps[message.topic]
        tenant = str(message.body.get("tenant", ""))
        ticket_id = str(message.body.get("ticket_id", message.key))
        started = time.time()
        outcome, error = "ok", ""
        try:
            outcome = await step.handle(message.body)
            await self._store.bus.ack(message)
        except PermanentStepError as exc:
            outcome, error = "dead_letter", str(exc)
            await self._give_up(message, tenant, ticket_id, step.name, error)
        except Exception as exc:  # noqa: BLE001 - every failure is retried or dead-lettered
            error = f"{type(exc).__name__}: {exc}"
            if message.attempts >= self._policy.max_attempts:
                outcome = "dead_letter"
                await self._give_up(message, tenant, ticket_id, step.name, error)
            else:
                outcome = "retry"
                log.warning(
                    "step %s failed for ticket %s (attempt %d): %s",
                    step.name, ticket_id, message.attempts, error,
                )
                delay = self._policy.delay(message.attempts)
                await self._store.bus.retry(message, delay, error)
                asyncio.get_running_loop().call_later(delay, self._store.bus.notify)
        self.handled += 1
        try:
            await self._store.timeline.record(
                tenant,
                TicketEvent(ticket_id, step.name, message.attempts, started, time.time(), outcome, error),
            )
        except Exception:  # noqa: BLE001 - the timeline must never fail the step
            log.exception("could not record timeline event")

    async def _give_up(
        self, message: Message, tenant: str, ticket_id: str, stage: str, reason: str
    ) -> None:
        record = await self._store.tickets.get(tenant, ticket_id)
        source = record.source if record else str(message.body.get("source", ""))
        dead = await self._store.bus.dead_letter(
            message, tenant=tenant, stage=stage, reason=reason, ticket_id=ticket_id, source=source
        )
        log.warning("dead-lettered ticket %s at %s as %s", ticket_id, stage, dead.id)
        if record is not None:
            record.state = TicketState.FAILED
            record.error = f"{stage}: {reason} (dead letter {dead.id})"
            await self._store.tickets.save(record)
