"""KEDA's external scaler (``externalscaler.ExternalScaler``) backed by the Capacity Manager.

A ScaledObject names the team in its trigger metadata (``team``; the ScaledObject's name when
absent). The manager's decision is authoritative: the metric is the desired worker count and its
target is 1 per replica, so the HPA's ``ceil(metric / target)`` is exactly that count; IsActive is
``desired > 0``, which lets KEDA scale the Deployment to zero.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
from omega.third_party.keda import externalscaler_pb2 as pb
from omega.third_party.keda import externalscaler_pb2_grpc

from federation.capacity.service import CapacityManager
from federation.errors import InvalidArgument

TEAM_METADATA_KEY = "team"


def team_of(ref: pb.ScaledObjectRef) -> str:
    team = str(ref.scalerMetadata.get(TEAM_METADATA_KEY) or ref.name)
    if not team:
        raise InvalidArgument("ScaledObjectRef names no team", reason="BAD_SCALED_OBJECT")
    return team


def metric_name(team: str) -> str:
    return f"omega-{team}-desired-workers"


class ExternalScalerServicer(externalscaler_pb2_grpc.ExternalScalerServicer):  # type: ignore[misc]
    """Answers KEDA from the manager's latest decisions."""

    def __init__(self, manager: CapacityManager) -> None:
        self._manager = manager

    async def IsActive(
        self, request: pb.ScaledObjectRef, context: grpc.aio.ServicerContext
    ) -> pb.IsActiveResponse:
        decision = await self._manager.decision(team_of(request))
        return pb.IsActiveResponse(result=decision.active)

    async def StreamIsActive(
        self, request: pb.ScaledObjectRef, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.IsActiveResponse]:
        last: bool | None = None
        async for decision in self._manager.watch(team_of(request)):
            if decision.active != last:
                last = decision.active
                yield pb.IsActiveResponse(result=decision.active)

    async def GetMetricSpec(
        self, request: pb.ScaledObjectRef, context: grpc.aio.ServicerContext
    ) -> pb.GetMetricSpecResponse:
        return self._spec(team_of(request))

    async def StreamMetricSpec(
        self, request: pb.ScaledObjectRef, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.GetMetricSpecResponse]:
        team = team_of(request)
        self._manager.policy(team)  # NotFound for an unknown team
        yield self._spec(team)
        await asyncio.Event().wait()  # the spec never changes; hold the stream until KEDA closes it

    async def GetMetrics(
        self, request: pb.GetMetricsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetMetricsResponse:
        team = team_of(request.scaledObjectRef)
        decision = await self._manager.decision(team)
        return pb.GetMetricsResponse(
            metricValues=[
                pb.MetricValue(
                    metricName=request.metricName or metric_name(team),
                    metricValue=decision.desired,
                    metricValueFloat=float(decision.desired),
                )
            ]
        )

    def _spec(self, team: str) -> pb.GetMetricSpecResponse:
        self._manager.policy(team)
        return pb.GetMetricSpecResponse(
            metricSpecs=[pb.MetricSpec(metricName=metric_name(team), targetSize=1, targetSizeFloat=1.0)]
        )
