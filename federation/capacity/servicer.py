"""omega.capacity.v1.CapacityService: proto ↔ domain translation only."""

from __future__ import annotations

import grpc
from omega.capacity.v1 import capacity_pb2 as pb
from omega.capacity.v1 import capacity_pb2_grpc

from federation.capacity.policy import QueueMetrics, ScalingDecision, TeamPolicy
from federation.capacity.service import CapacityManager
from federation.errors import InvalidArgument
from federation.registry.servicer import duration, timestamp

MAX_PAGE = 1000


def metrics_from_proto(msg: pb.QueueMetrics) -> QueueMetrics:
    return QueueMetrics(
        depth=msg.depth,
        oldest_age_s=msg.oldest_age.ToNanoseconds() / 1e9,
        arrival_rate=msg.arrival_rate,
    )


def metrics_to_proto(m: QueueMetrics) -> pb.QueueMetrics:
    return pb.QueueMetrics(
        depth=m.depth, oldest_age=duration(m.oldest_age_s), arrival_rate=m.arrival_rate
    )


def decision_to_proto(d: ScalingDecision) -> pb.ScalingDecision:
    return pb.ScalingDecision(
        team=d.team,
        current_workers=d.current,
        desired_workers=d.desired,
        recommended_workers=d.recommended,
        reason=d.reason,
        metrics=metrics_to_proto(d.metrics),
        decide_time=timestamp(d.decided_at),
    )


def policy_to_proto(p: TeamPolicy) -> pb.TeamPolicy:
    return pb.TeamPolicy(
        team=p.team,
        min_workers=p.min_workers,
        max_workers=p.max_workers,
        worker_throughput=p.worker_throughput,
        drain_target=duration(p.drain_target_s),
        max_age=duration(p.max_age_s),
        idle_cooldown=duration(p.idle_cooldown_s),
        scale_down_window=duration(p.scale_down_window_s),
    )


class CapacityServicer(capacity_pb2_grpc.CapacityServiceServicer):  # type: ignore[misc]
    """Translates omega.capacity.v1 calls to :class:`CapacityManager`."""

    def __init__(self, manager: CapacityManager) -> None:
        self._manager = manager

    async def ReportQueueMetrics(
        self, request: pb.ReportQueueMetricsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReportQueueMetricsResponse:
        decision = await self._manager.report(request.team, metrics_from_proto(request.metrics))
        return pb.ReportQueueMetricsResponse(decision=decision_to_proto(decision))

    async def GetScalingDecision(
        self, request: pb.GetScalingDecisionRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetScalingDecisionResponse:
        decision = await self._manager.decision(request.team)
        return pb.GetScalingDecisionResponse(decision=decision_to_proto(decision))

    async def ListTeams(
        self, request: pb.ListTeamsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTeamsResponse:
        if request.page_size < 0:
            raise InvalidArgument("page_size must be >= 0", reason="BAD_PAGE_SIZE")
        size = min(MAX_PAGE, request.page_size or 100)
        teams = [t for t in await self._manager.teams() if t[0].team > request.page_token]
        page = teams[:size]
        token = page[-1][0].team if len(teams) > size else ""
        return pb.ListTeamsResponse(
            teams=[
                pb.TeamStatus(policy=policy_to_proto(p), decision=decision_to_proto(d))
                for p, d in page
            ],
            next_page_token=token,
        )
