"""KEDA's external-scaler RPCs, called by a client generated from KEDA's own externalscaler.proto
(vendored unchanged under protos/third_party/), against the Capacity Manager's real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from omega.third_party.keda import externalscaler_pb2 as kpb
from omega.third_party.keda import externalscaler_pb2_grpc

from federation.capacity.policy import QueueMetrics, TeamPolicy
from federation.capacity.server import CapacityDeps, create_server
from federation.capacity.service import CapacityManager
from mesh.settings import OmegaSettings

WAIT_S = 5.0


class ManualClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def manager(clock: ManualClock) -> CapacityManager:
    policy = TeamPolicy(team="triage", min_workers=0, max_workers=6, worker_throughput=1.0,
                        drain_target_s=10.0, idle_cooldown_s=60.0, scale_down_window_s=30.0)
    return CapacityManager([policy], clock=clock)


@pytest.fixture
async def stub(
    manager: CapacityManager, tmp_path: Path
) -> AsyncIterator[externalscaler_pb2_grpc.ExternalScalerStub]:
    srv = create_server(OmegaSettings(grpc_addr="127.0.0.1:0", data_dir=tmp_path), CapacityDeps(manager))
    await srv.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{srv.port}") as ch:
            yield externalscaler_pb2_grpc.ExternalScalerStub(ch)
    finally:
        await srv.stop(0.2)


REF = kpb.ScaledObjectRef(name="omega-triage", namespace="omega", scalerMetadata={"team": "triage"})


async def test_is_active_and_metrics_follow_the_decision(stub, manager, clock) -> None:
    assert not (await stub.IsActive(REF, timeout=WAIT_S)).result  # idle team, min 0
    spec = await stub.GetMetricSpec(REF, timeout=WAIT_S)
    assert [(s.metricName, s.targetSize, s.targetSizeFloat) for s in spec.metricSpecs] == [
        ("omega-triage-desired-workers", 1, 1.0)
    ]
    await manager.report("triage", QueueMetrics(depth=40, arrival_rate=1.0))  # 1 + 40/10 = 5
    assert (await stub.IsActive(REF, timeout=WAIT_S)).result
    metrics = await stub.GetMetrics(
        kpb.GetMetricsRequest(scaledObjectRef=REF, metricName=spec.metricSpecs[0].metricName),
        timeout=WAIT_S,
    )
    assert [(v.metricName, v.metricValue, v.metricValueFloat) for v in metrics.metricValues] == [
        ("omega-triage-desired-workers", 5, 5.0)
    ]


async def test_stream_is_active_reports_now_then_on_change(stub, manager, clock) -> None:
    call = stub.StreamIsActive(REF)
    it = call.__aiter__()
    assert (await asyncio.wait_for(it.__anext__(), WAIT_S)).result is False
    await manager.report("triage", QueueMetrics(depth=3))
    assert (await asyncio.wait_for(it.__anext__(), WAIT_S)).result is True
    await manager.report("triage", QueueMetrics(depth=30))  # still active: nothing is sent
    clock.now += 1
    await manager.report("triage", QueueMetrics())
    clock.now += 100  # after the cool-down the team goes to zero
    await manager.report("triage", QueueMetrics())
    assert (await asyncio.wait_for(it.__anext__(), WAIT_S)).result is False
    call.cancel()


async def test_stream_metric_spec_sends_the_spec_at_once(stub) -> None:
    call = stub.StreamMetricSpec(REF)
    first = await asyncio.wait_for(call.__aiter__().__anext__(), WAIT_S)
    assert first.metricSpecs[0].metricName == "omega-triage-desired-workers"
    call.cancel()


async def test_unknown_team_or_no_team_is_an_error(stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.IsActive(kpb.ScaledObjectRef(name="other", namespace="omega"), timeout=WAIT_S)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetMetricSpec(kpb.ScaledObjectRef(), timeout=WAIT_S)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # The ScaledObject's name names the team when the metadata does not.
    assert not (await stub.IsActive(kpb.ScaledObjectRef(name="triage"), timeout=WAIT_S)).result
