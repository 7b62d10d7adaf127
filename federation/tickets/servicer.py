"""omega.tickets.v1.TicketService: translates protos ↔ the ticket repository."""

from __future__ import annotations

import grpc
from omega.tickets.v1 import ticket_service_pb2, ticket_service_pb2_grpc

from backends.ports import TicketRepository
from federation import paging
from federation.errors import InvalidArgument, NotFound
from federation.tenancy import resolve_tenant
from federation.tickets.convert import PROTO_TO_STATE, ticket_to_proto
from mesh.settings import TenantDirectory


class TicketServicer(ticket_service_pb2_grpc.TicketServiceServicer):
    def __init__(self, tickets: TicketRepository, tenants: TenantDirectory) -> None:
        self._tickets = tickets
        self._tenants = tenants

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
