"""omega.shadow.v1.ShadowService: translates protos ↔ ShadowService (nothing else)."""

from __future__ import annotations

import grpc
from omega.shadow.v1 import shadow_pb2, shadow_pb2_grpc

from federation import paging
from federation.errors import InvalidArgument, PermissionDenied
from federation.tenancy import resolve_tenant
from federation.tickets.convert import ticket_to_proto
from teams.shadow.convert import (
    PROTO_TO_STATE,
    proposal_to_proto,
    queue_item_to_proto,
    technician_from,
)
from teams.shadow.service import ShadowService
from teams.shadow.store import ProposalState


class ShadowServicer(shadow_pb2_grpc.ShadowServiceServicer):
    def __init__(self, service: ShadowService) -> None:
        self._svc = service

    def _tenant(self, explicit: str) -> str:
        tenant = resolve_tenant(explicit, self._svc.tenants.default_tenant)
        self._svc.tenants.get(tenant)
        return tenant

    async def ListMyQueue(
        self, request: shadow_pb2.ListMyQueueRequest, context: grpc.aio.ServicerContext
    ) -> shadow_pb2.ListMyQueueResponse:
        tenant = self._tenant(request.tenant)
        tech = technician_from(request.technician, context)
        if not tech:
            raise InvalidArgument("a technician is required (field or x-omega-technician)", reason="MISSING_TECHNICIAN")
        items = await self._svc.my_queue(tenant, tech, limit=paging.page_size(request.page_size))
        return shadow_pb2.ListMyQueueResponse(items=[queue_item_to_proto(i) for i in items])

    async def GetSuggestions(
        self, request: shadow_pb2.GetSuggestionsRequest, context: grpc.aio.ServicerContext
    ) -> shadow_pb2.GetSuggestionsResponse:
        tenant = self._tenant(request.tenant)
        if not request.ticket_id:
            raise InvalidArgument("ticket_id is required", reason="MISSING_TICKET_ID")
        tech = technician_from(request.technician, context)
        record, proposal = await self._svc.suggestions(tenant, request.ticket_id, tech)
        resp = shadow_pb2.GetSuggestionsResponse(ticket=ticket_to_proto(record))
        if proposal is not None:
            if tech and proposal.state is ProposalState.PROPOSED:
                try:
                    token, _ = await self._svc.issue_token(tenant, proposal.id, tech)
                    resp.confirmation_token = token
                except PermissionDenied:
                    pass
            resp.proposal.CopyFrom(proposal_to_proto(proposal))
        return resp

    async def ListProposals(
        self, request: shadow_pb2.ListProposalsRequest, context: grpc.aio.ServicerContext
    ) -> shadow_pb2.ListProposalsResponse:
        tenant = self._tenant(request.tenant)
        states: tuple[ProposalState, ...] = ()
        if request.state:
            state = PROTO_TO_STATE.get(request.state)
            if state is None:
                raise InvalidArgument("unknown state", reason="BAD_STATE")
            states = (state,)
        proposals = await self._svc.shadow.proposals(
            tenant, technician=request.technician or None, states=states,
            limit=paging.page_size(request.page_size),
        )
        return shadow_pb2.ListProposalsResponse(proposals=[proposal_to_proto(p) for p in proposals])

    async def RevertProposal(
        self, request: shadow_pb2.RevertProposalRequest, context: grpc.aio.ServicerContext
    ) -> shadow_pb2.RevertProposalResponse:
        tenant = self._tenant(request.tenant)
        p = await self._svc.revert(tenant, request.proposal_id, technician_from(request.technician, context))
        return shadow_pb2.RevertProposalResponse(proposal=proposal_to_proto(p))

    async def GetScorecard(
        self, request: shadow_pb2.GetScorecardRequest, context: grpc.aio.ServicerContext
    ) -> shadow_pb2.GetScorecardResponse:
        tenant = self._tenant(request.tenant)
        card = await self._svc.scorecard(tenant, days=request.window_days or 30.0)
        return shadow_pb2.GetScorecardResponse(
            auto_resolution_rate=card["auto_resolution_rate"], override_rate=card["override_rate"],
            reopen_rate=card["reopen_rate"], confident_but_wrong=card["confident_but_wrong"],
            triage_time_p50_seconds=card["triage_time_p50_s"], proposal_time_p50_seconds=card["proposal_time_p50_s"],
            sla_at_risk=card["sla_at_risk"], sla_breached=card["sla_breached"], tickets=card["tickets"],
            resolutions=card["resolutions"],
            daily=[shadow_pb2.DailyActivity(**d) for d in card["daily"]],
        )

    async def ListRunbooks(
        self, request: shadow_pb2.ListRunbooksRequest, context: grpc.aio.ServicerContext
    ) -> shadow_pb2.ListRunbooksResponse:
        tenant = self._tenant(request.tenant)
        books = self._svc.catalogue(tenant).runbooks
        return shadow_pb2.ListRunbooksResponse(
            runbooks=[
                shadow_pb2.Runbook(
                    name=r.name, title=r.title, categories=list(r.categories),
                    parameters=list(r.params), unattended=r.unattended, threshold=r.threshold,
                    dry_run=r.dry_run, undo=r.undo,
                )
                for _, r in sorted(books.items())
            ]
        )
