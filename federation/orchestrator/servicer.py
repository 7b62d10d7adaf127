"""omega.orchestrator.v1.OrchestratorService: proto ↔ the Orchestrator."""

from __future__ import annotations

import grpc
from google.protobuf import duration_pb2, timestamp_pb2
from omega.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc

from federation.orchestrator.service import STEP_TARGETS, Orchestrator
from federation.tenancy import resolve_tenant
from mesh.settings import TenantDirectory

OUTCOMES = {
    "ok": orchestrator_pb2.STEP_OUTCOME_OK,
    "skipped": orchestrator_pb2.STEP_OUTCOME_SKIPPED,
    "retry": orchestrator_pb2.STEP_OUTCOME_RETRY,
    "dead_letter": orchestrator_pb2.STEP_OUTCOME_DEAD_LETTER,
}


class OrchestratorServicer(orchestrator_pb2_grpc.OrchestratorServiceServicer):
    """Tenant-scoped: a ticket of another tenant is NOT_FOUND."""

    def __init__(self, orchestrator: Orchestrator, tenants: TenantDirectory) -> None:
        self._orchestrator = orchestrator
        self._tenants = tenants

    async def GetTicketTimeline(
        self, request: orchestrator_pb2.GetTicketTimelineRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.GetTicketTimelineResponse:
        tenant = resolve_tenant(request.tenant, self._tenants.default_tenant)
        self._tenants.get(tenant)
        tl = await self._orchestrator.timeline(tenant, request.ticket_id)
        steps = []
        for e in tl.events:
            start = timestamp_pb2.Timestamp()
            start.FromNanoseconds(int(e.started_at * 1e9))
            took = duration_pb2.Duration()
            took.FromNanoseconds(max(0, int((e.finished_at - e.started_at) * 1e9)))
            target = STEP_TARGETS.get(e.step)
            steps.append(
                orchestrator_pb2.TimelineStep(
                    step=e.step, attempt=e.attempt, start_time=start, duration=took,
                    outcome=OUTCOMES.get(e.outcome, orchestrator_pb2.STEP_OUTCOME_UNSPECIFIED),
                    error=e.error, target_state=target.value if target else "", detail=e.detail,
                )
            )
        return orchestrator_pb2.GetTicketTimelineResponse(
            ticket_id=tl.ticket_id, state=tl.state, steps=steps, error=tl.error
        )
