"""Capacity Manager: scaling decisions from synthetic queue metrics, the worker pool, the RPCs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from google.protobuf import duration_pb2
from omega.capacity.v1 import capacity_pb2 as pb
from omega.capacity.v1 import capacity_pb2_grpc

from backends.wakeups import LocalWakeups
from federation.capacity.policy import ArrivalRate, QueueMetrics, TeamPolicy, TeamScaler
from federation.capacity.pool import AsyncioWorkerPool
from federation.capacity.server import CapacityDeps, create_server
from federation.capacity.service import CapacityManager
from federation.errors import InvalidArgument, NotFound
from mesh.settings import OmegaSettings

WAIT_S = 5.0
POLICY = TeamPolicy(
    team="triage",
    min_workers=0,
    max_workers=8,
    worker_throughput=2.0,
    drain_target_s=30.0,
    max_age_s=20.0,
    idle_cooldown_s=120.0,
    scale_down_window_s=60.0,
)


class ManualClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_formula_sizes_for_arrivals_and_backlog() -> None:
    s = TeamScaler(POLICY)
    # 3 msg/s arriving + 120 waiting to drain in 30 s = 7 msg/s; 2 msg/s per worker -> 4.
    d = s.decide(QueueMetrics(depth=120, oldest_age_s=5, arrival_rate=3.0), current=0, now=0)
    assert (d.recommended, d.desired) == (4, 4)
    # Far more than max: clamped.
    d = s.decide(QueueMetrics(depth=10_000, arrival_rate=50), current=4, now=1)
    assert d.desired == 8
    # One message wakes a team that was at zero.
    d = TeamScaler(POLICY).decide(QueueMetrics(depth=1), current=0, now=0)
    assert d.desired == 1 and d.active


def test_old_messages_add_a_worker() -> None:
    s = TeamScaler(POLICY)
    d = s.decide(QueueMetrics(depth=2, oldest_age_s=25, arrival_rate=0.1), current=1, now=0)
    assert d.desired == 2 and "oldest" in d.reason


def test_idle_team_scales_to_zero_only_after_the_cool_down() -> None:
    s = TeamScaler(POLICY)
    assert s.decide(QueueMetrics(depth=60, arrival_rate=2), current=0, now=0).desired == 2
    idle = QueueMetrics()
    sizes = [s.decide(idle, current=c, now=t).desired for c, t in ((2, 10), (2, 70), (1, 100), (1, 129))]
    # In cool-down the recommendation is 1, but the scale-down window (60 s) holds 2 until the
    # busy sample at t=0 leaves it; then 1 until the cool-down (120 s from t=10) ends.
    assert sizes == [2, 1, 1, 1]
    final = s.decide(idle, current=1, now=130)
    assert final.desired == 0 and not final.active and "cool-down over" in final.reason
    assert s.decide(idle, current=0, now=500).desired == 0


def test_a_noisy_queue_does_not_make_the_team_flap() -> None:
    s = TeamScaler(POLICY)
    current = 0
    sizes = []
    for t in range(0, 50, 5):  # depth alternates 120 / 10 every 5 s
        depth = 120 if (t // 5) % 2 == 0 else 10
        current = s.decide(QueueMetrics(depth=depth, arrival_rate=1.0), current=current, now=t).desired
        sizes.append(current)
    assert sizes[0] == 3 and set(sizes) == {3}  # scaled up once, never down inside the window
    for t in range(50, 130, 5):  # the load really drops
        current = s.decide(QueueMetrics(depth=10, arrival_rate=1.0), current=current, now=t).desired
    assert current == 1  # ceil((1 + 10/30) / 2) = 1, reached only after the window


def test_policy_and_metrics_are_validated() -> None:
    with pytest.raises(InvalidArgument):
        TeamPolicy(team="x", min_workers=3, max_workers=2)
    with pytest.raises(InvalidArgument):
        TeamScaler(POLICY).decide(QueueMetrics(depth=-1), current=0, now=0)


def test_arrival_rate_from_a_cumulative_counter() -> None:
    rate = ArrivalRate(window_s=10)
    assert rate.update(0, 100) == 0.0
    assert rate.update(5, 150) == 10.0
    assert rate.update(8, 180) == 10.0
    # At t=20 the samples before t=10 left the window (keeping at least two): 10 over 12 s.
    assert rate.update(20, 190) == pytest.approx(10 / 12)
    assert rate.update(40, 190) == 0.0


async def test_manager_starts_and_stops_asyncio_workers() -> None:
    started = 0
    stopped = 0
    running = asyncio.Event()

    async def worker(stop: asyncio.Event) -> None:
        nonlocal started, stopped
        started += 1
        running.set()
        await stop.wait()
        stopped += 1

    clock = ManualClock()
    pool = AsyncioWorkerPool({"triage": worker}, stop_grace_s=1.0)
    manager = CapacityManager([POLICY], pool=pool, clock=clock)
    try:
        d = await manager.report("triage", QueueMetrics(depth=120, arrival_rate=3))
        assert d.desired == 4 and await pool.size("triage") == 4
        await asyncio.wait_for(running.wait(), WAIT_S)
        clock.now += 10
        await manager.report("triage", QueueMetrics())
        clock.now += 200  # past the window and the cool-down
        await manager.report("triage", QueueMetrics())
        d = await manager.report("triage", QueueMetrics())
        assert d.desired == 0 and await pool.size("triage") == 0
        assert (started, stopped) == (4, 4)  # every worker was told to stop and returned
        with pytest.raises(NotFound):
            await manager.report("nope", QueueMetrics())
    finally:
        await pool.aclose()


async def test_work_for_a_team_scaled_to_zero_starts_it_at_once_not_at_the_next_tick() -> None:
    """A publish wakes the reconcile loop when a team has no worker: the first ticket after an
    idle spell waited up to a whole interval (1 s locally) before any step ran. The interval
    here is 60 s, so only the wake-up can start the worker within the test's wait; once every
    team has a worker, wakes are no-ops."""
    depth = 0
    started = asyncio.Event()

    class Source:
        async def queue_metrics(self, team: str) -> QueueMetrics:
            return QueueMetrics(depth=depth, arrival_rate=0)

    async def worker(stop: asyncio.Event) -> None:
        started.set()
        await stop.wait()

    wakeups = LocalWakeups()
    pool = AsyncioWorkerPool({"triage": worker}, stop_grace_s=1.0)
    manager = CapacityManager([POLICY], pool=pool, source=Source())
    wakeups.add_listener(manager.wake)
    manager.start(interval_s=60.0)
    try:
        await asyncio.sleep(0.05)  # the first reconcile: no work, no worker
        assert await pool.size("triage") == 0
        depth = 3
        wakeups.notify()  # what a publish does
        await asyncio.wait_for(started.wait(), WAIT_S)
        assert await pool.size("triage") >= 1 and manager.wakes == 1
        wakeups.notify()
        await asyncio.sleep(0.1)
        assert manager.wakes == 1  # every team has a worker: nothing brought forward
    finally:
        await manager.stop()
        await pool.aclose()


async def test_publishes_for_other_teams_do_not_reconcile_a_team_without_work_at_full_rate() -> None:
    """A team at zero with nothing to do (the shadow team while ingest holds the pipeline back)
    keeps wake() armed on every publish; each reconcile that starts no team doubles the gap, so
    a burst of publishes costs a handful of reconciles, not one every 50 ms."""
    reads = 0

    class Source:
        async def queue_metrics(self, team: str) -> QueueMetrics:
            nonlocal reads
            reads += 1
            return QueueMetrics()  # never any work

    async def worker(stop: asyncio.Event) -> None:
        await stop.wait()

    pool = AsyncioWorkerPool({"triage": worker}, stop_grace_s=1.0)
    manager = CapacityManager([POLICY], pool=pool, source=Source())
    manager.start(interval_s=60.0, min_gap_s=0.02)
    try:
        await asyncio.sleep(0.02)
        for _ in range(100):  # a publish every 10 ms for 1 s
            manager.wake()
            await asyncio.sleep(0.01)
        # At a fixed 20 ms gap that would be ~50 reconciles; doubling: 20, 40, 80 ... ms.
        assert 2 <= reads <= 8
        assert await pool.size("triage") == 0
    finally:
        await manager.stop()
        await pool.aclose()


async def test_a_crashed_worker_is_replaced_on_the_next_decision(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One worker crashes, the other is cancelled from inside (as a library's stray
    CancelledError would end it): both are logged and both are replaced."""
    crash = asyncio.Event()
    raised: list[type[BaseException]] = [RuntimeError, asyncio.CancelledError]

    async def worker(stop: asyncio.Event) -> None:
        done, _ = await asyncio.wait(
            [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(crash.wait())],
            return_when=asyncio.FIRST_COMPLETED,
        )
        if crash.is_set() and not stop.is_set():
            raise raised.pop(0)("worker died")

    pool = AsyncioWorkerPool({"triage": worker}, stop_grace_s=1.0)
    manager = CapacityManager([POLICY], pool=pool, clock=ManualClock())
    try:
        await manager.report("triage", QueueMetrics(depth=120, arrival_rate=0))
        assert await pool.size("triage") == 2
        crash.set()
        for _ in range(100):  # let the two tasks observe the crash (bounded)
            if await pool.size("triage") == 0:
                break
            await asyncio.sleep(0)
        assert await pool.size("triage") == 0
        await asyncio.sleep(0)  # done callbacks run on the loop's next turn
        assert "a triage worker crashed: RuntimeError" in caplog.text
        assert "a triage worker was cancelled without being stopped" in caplog.text
        crash.clear()
        d = await manager.report("triage", QueueMetrics(depth=120, arrival_rate=0))
        assert d.current == 0 and d.desired == 2 and await pool.size("triage") == 2
    finally:
        await pool.aclose()


async def test_capacity_service_over_grpc(tmp_path: Path) -> None:
    manager = CapacityManager([POLICY, TeamPolicy(team="shadow", min_workers=1)], clock=ManualClock())
    srv = create_server(OmegaSettings(grpc_addr="127.0.0.1:0", data_dir=tmp_path), CapacityDeps(manager))
    await srv.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{srv.port}") as ch:
            stub = capacity_pb2_grpc.CapacityServiceStub(ch)
            res = await stub.ReportQueueMetrics(
                pb.ReportQueueMetricsRequest(
                    team="triage",
                    metrics=pb.QueueMetrics(depth=120, arrival_rate=3.0,
                                            oldest_age=duration_pb2.Duration(seconds=5)),
                ),
                timeout=WAIT_S,
            )
            assert res.decision.desired_workers == 4 and res.decision.reason
            got = await stub.GetScalingDecision(pb.GetScalingDecisionRequest(team="triage"), timeout=WAIT_S)
            assert got.decision.desired_workers == 4
            teams = await stub.ListTeams(pb.ListTeamsRequest(), timeout=WAIT_S)
            assert [(t.policy.team, t.decision.desired_workers) for t in teams.teams] == [
                ("shadow", 1), ("triage", 4)
            ]
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.GetScalingDecision(pb.GetScalingDecisionRequest(team="nope"), timeout=WAIT_S)
            assert err.value.code() == grpc.StatusCode.NOT_FOUND
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.ReportQueueMetrics(
                    pb.ReportQueueMetricsRequest(team="triage", metrics=pb.QueueMetrics(depth=-5)),
                    timeout=WAIT_S,
                )
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        await srv.stop(0.2)
