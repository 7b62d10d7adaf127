"""Capacity Manager: keeps each worker team at the size its queue needs (see ``policy``).

Metrics arrive pushed (``report``, e.g. from the ReportQueueMetrics RPC) or pulled from a
``QueueMetricsSource`` by the reconcile loop (``start``). Each decision is applied to the
``WorkerPool`` when there is one (local mode) and published for KEDA (production).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable
from typing import Protocol

from federation.capacity.policy import QueueMetrics, ScalingDecision, TeamPolicy, TeamScaler
from federation.capacity.pool import WorkerPool
from federation.errors import InvalidArgument, NotFound
from federation.registry.service import Clock

log = logging.getLogger(__name__)


class QueueMetricsSource(Protocol):
    """Reads a team's input queue (depth, oldest age, arrival rate) from the bus."""

    async def queue_metrics(self, team: str) -> QueueMetrics: ...


class CapacityManager:
    """Decides team sizes and applies them; no gRPC types here."""

    def __init__(
        self,
        policies: Iterable[TeamPolicy],
        *,
        pool: WorkerPool | None = None,
        source: QueueMetricsSource | None = None,
        clock: Clock = time.time,
    ) -> None:
        self._scalers = {p.team: TeamScaler(p) for p in policies}
        if not self._scalers:
            raise InvalidArgument("at least one team policy is needed", reason="BAD_TEAM_POLICY")
        self._pool = pool
        self._source = source
        self._clock = clock
        now = clock()
        self._decisions = {
            team: ScalingDecision(
                team, 0, s.policy.min_workers, s.policy.min_workers, "no metrics yet",
                QueueMetrics(), now,
            )
            for team, s in self._scalers.items()
        }
        self._changed = {team: asyncio.Event() for team in self._scalers}
        self._locks = {team: asyncio.Lock() for team in self._scalers}
        self._loop_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.wakes = 0  # reconciles brought forward by wake() (for tests and benchmarks)

    def policy(self, team: str) -> TeamPolicy:
        return self._scaler(team).policy

    async def report(self, team: str, metrics: QueueMetrics) -> ScalingDecision:
        """Decide ``team``'s size from ``metrics`` and apply it to the pool."""
        scaler = self._scaler(team)
        async with self._locks[team]:
            last = self._decisions[team]
            current = await self._pool.size(team) if self._pool is not None else last.desired
            decision = scaler.decide(metrics, current, self._clock())
            if self._pool is not None and decision.desired != current:
                await self._pool.scale(team, decision.desired)
            if decision.desired != last.desired:
                log.info("team %s: %s", team, decision.reason)
            self._decisions[team] = decision
            if decision.active != last.active or decision.desired != last.desired:
                self._changed[team].set()
                self._changed[team] = asyncio.Event()
            return decision

    async def decision(self, team: str) -> ScalingDecision:
        self._scaler(team)
        return self._decisions[team]

    async def teams(self) -> list[tuple[TeamPolicy, ScalingDecision]]:
        return [(self._scalers[t].policy, self._decisions[t]) for t in sorted(self._scalers)]

    async def watch(self, team: str) -> AsyncIterator[ScalingDecision]:
        """The current decision, then each decision that changes the desired size."""
        self._scaler(team)
        while True:
            changed = self._changed[team]
            yield self._decisions[team]
            await changed.wait()

    async def reconcile_once(self) -> list[ScalingDecision]:
        """Pull every team's metrics from the source and decide (no-op without a source)."""
        if self._source is None:
            return []
        out = []
        for team in sorted(self._scalers):
            try:
                metrics = await self._source.queue_metrics(team)
            except Exception:  # noqa: BLE001 - one team's broken queue must not stop the others
                log.exception("could not read the queue metrics of team %s", team)
                continue
            out.append(await self.report(team, metrics))
        return out

    def start(self, interval_s: float = 5.0, min_gap_s: float = 0.05) -> None:
        """Start the reconcile loop: every ``interval_s``, and at once (at most every
        ``min_gap_s``) when ``wake`` says work arrived for a team that has no worker."""
        if self._loop_task is None and self._source is not None:
            self._loop_task = asyncio.get_running_loop().create_task(
                self._loop(interval_s, min_gap_s)
            )

    def wake(self) -> None:
        """Work was just published. When a team is scaled to zero, reconcile now instead of at
        the next tick, so the first ticket after an idle spell does not wait up to a whole
        interval for a worker. A no-op while every team has workers (cheap on every publish)."""
        if any(d.desired == 0 for d in self._decisions.values()):
            self._wake.set()

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None

    async def _loop(self, interval_s: float, min_gap_s: float) -> None:
        gap = min_gap_s
        while True:
            started = time.monotonic()
            idle = {t for t, d in self._decisions.items() if d.desired == 0}
            await self.reconcile_once()
            started_a_team = any(self._decisions[t].desired > 0 for t in idle)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval_s)
            if self._wake.is_set():
                self._wake.clear()
                self.wakes += 1
                # A burst of publishes brings one reconcile forward, not one per publish. A team
                # with nothing to do stays at zero and every publish would wake the loop again:
                # when a reconcile starts no team, the gap doubles (up to the interval).
                gap = min_gap_s if started_a_team else min(interval_s, gap * 2)
                await asyncio.sleep(max(0.0, gap - (time.monotonic() - started)))

    def _scaler(self, team: str) -> TeamScaler:
        try:
            return self._scalers[team]
        except KeyError:
            raise NotFound(f"no team {team!r}", reason="UNKNOWN_TEAM") from None
