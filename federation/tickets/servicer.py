"""omega.tickets.v1.TicketService: translates protos ↔ the ticket repository."""

from __future__ import annotations

from typing import Any

import grpc
from omega.tickets.v1 import ticket_service_pb2, ticket_service_pb2_grpc

from backends.ports import TicketRepository
from federation import paging
from federation.errors import FailedPrecondition, InvalidArgument, NotFound
from federation.tenancy import resolve_tenant
from federation.tickets.convert import PROTO_TO_STATE, ticket_to_proto
from mesh.settings import TenantDirectory


class TicketServicer(ticket_service_pb2_grpc.TicketServiceServicer):
    """``actions`` is the shadow team's ``teams.shadow.service.ShadowService`` (the technician
    actions); without it those RPCs answer FAILED_PRECONDITION (no shadow team in this mesh)."""

    def __init__(self, tickets: TicketRepository, tenants: TenantDirectory, actions: Any | None = None) -> None:
        self._tickets = tickets
        self._tenants = tenants
        self._actions = actions

    def _tenant(self, explicit: str) -> str:
        tenant = resolve_tenant(explicit, self._tenants.default_tenant)
        self._tenants.get(tenant)
        return tenant

    async def GetTicket(
        self, request: ticket_service_pb2.GetTicketRequest, context: grpc.aio.ServicerContext
    ) -> ticket_service_pb2.GetTicketResponse:
        tenant = self._tenant(request.tenant)
        if not request.ticket_id:
            raise InvalidArgument("ticket_id is required", reason="MISSING_TICKET_ID")
        record = await self._tickets.get(tenant, request.ticket_id)
        if record is None:
            raise NotFound(f"no ticket {request.ticket_id!r}", reason="TICKET_NOT_FOUND")
        return ticket_service_pb2.GetTicketResponse(ticket=ticket_to_proto(record))

    async def ListTickets(
        self, request: ticket_service_pb2.ListTicketsRequest, context: grpc.aio.ServicerContext
    ) -> ticket_service_pb2.ListTicketsResponse:
        tenant = self._tenant(request.tenant)
        size = paging.page_size(request.page_size)
        state = PROTO_TO_STATE.get(request.state) if request.state else None
        if request.state and state is None:
            raise InvalidArgument("unknown state", reason="BAD_STATE")
        records = await self._tickets.list(
            tenant, state=state, limit=size + 1, before=paging.decode(request.page_token)
        )
        page, more = records[:size], len(records) > size
        token = paging.encode(page[-1].created_at, page[-1].id) if more and page else ""
        return ticket_service_pb2.ListTicketsResponse(
            tickets=[ticket_to_proto(r) for r in page], next_page_token=token
        )

    # ---- technician actions (the shadow team's domain does the work) ---------------------------
    def _shadow(self) -> Any:
        if self._actions is None:
            raise FailedPrecondition("technician actions need the shadow team", reason="NO_SHADOW_TEAM")
        return self._actions

    async def ConfirmProposal(
        self, request: ticket_service_pb2.ConfirmProposalRequest, context: grpc.aio.ServicerContext
    ) -> ticket_service_pb2.ConfirmProposalResponse:
        from teams.shadow.convert import proposal_to_proto, technician_from

        tenant, shadow = self._tenant(request.tenant), self._shadow()
        if not request.proposal_id:
            raise InvalidArgument("proposal_id is required", reason="MISSING_PROPOSAL_ID")
        p = await shadow.confirm(
            tenant, request.proposal_id, technician_from(request.technician, context), request.confirmation_token
        )
        return ticket_service_pb2.ConfirmProposalResponse(proposal=proposal_to_proto(p))

    async def RejectProposal(
        self, request: ticket_service_pb2.RejectProposalRequest, context: grpc.aio.ServicerContext
    ) -> ticket_service_pb2.RejectProposalResponse:
        from teams.shadow.convert import proposal_to_proto, technician_from

        tenant, shadow = self._tenant(request.tenant), self._shadow()
        if not request.proposal_id:
            raise InvalidArgument("proposal_id is required", reason="MISSING_PROPOSAL_ID")
        labels = {"category": request.category, "priority": request.priority, "queue": request.queue}
        p = await shadow.reject(
            tenant, request.proposal_id, technician_from(request.technician, context), request.reason, labels
        )
        return ticket_service_pb2.RejectProposalResponse(proposal=proposal_to_proto(p))

    async def CorrectTriage(
        self, request: ticket_service_pb2.CorrectTriageRequest, context: grpc.aio.ServicerContext
    ) -> ticket_service_pb2.CorrectTriageResponse:
        from teams.shadow.convert import technician_from

        tenant, shadow = self._tenant(request.tenant), self._shadow()
        if not request.ticket_id:
            raise InvalidArgument("ticket_id is required", reason="MISSING_TICKET_ID")
        record = await shadow.correct(
            tenant, request.ticket_id, technician_from(request.technician, context),
            category=request.category, priority=request.priority, queue=request.queue,
        )
        return ticket_service_pb2.CorrectTriageResponse(ticket=ticket_to_proto(record))

    async def ResolveTicket(
        self, request: ticket_service_pb2.ResolveTicketRequest, context: grpc.aio.ServicerContext
    ) -> ticket_service_pb2.ResolveTicketResponse:
        from teams.shadow.convert import technician_from

        tenant, shadow = self._tenant(request.tenant), self._shadow()
        if not request.ticket_id:
            raise InvalidArgument("ticket_id is required", reason="MISSING_TICKET_ID")
        rid = await shadow.resolve(
            tenant, request.ticket_id, technician_from(request.technician, context), request.resolution
        )
        record = await self._tickets.get(tenant, request.ticket_id)
        if record is None:
            raise NotFound(f"no ticket {request.ticket_id!r}", reason="TICKET_NOT_FOUND")
        return ticket_service_pb2.ResolveTicketResponse(ticket=ticket_to_proto(record), resolution_id=rid)
