"""omega.triage.v1.TriageService: translates protos ↔ the read-only triage service."""

from __future__ import annotations

import grpc
from omega.tickets.v1 import ticket_pb2
from omega.triage.v1 import triage_pb2, triage_pb2_grpc

from connectors.contract import Source
from federation.errors import InvalidArgument
from federation.tenancy import resolve_tenant
from federation.tickets.convert import PROTO_TO_SOURCE, SOURCE_TO_PROTO, triage_to_proto
from mesh.settings import TenantDirectory
from teams.triage.service import TicketTriageService


def _source(value: int) -> Source | None:
    if value == ticket_pb2.SOURCE_SYSTEM_UNSPECIFIED:
        return None
    try:
        return PROTO_TO_SOURCE[value]  # type: ignore[index,unused-ignore]
    except KeyError:
        raise InvalidArgument(f"unknown source system {value}", reason="BAD_SOURCE") from None


class TriageServicer(triage_pb2_grpc.TriageServiceServicer):  # type: ignore[misc]
    def __init__(self, service: TicketTriageService, tenants: TenantDirectory) -> None:
        self._service = service
        self._tenants = tenants

    def _tenant(self, explicit: str) -> str:
        return resolve_tenant(explicit, self._tenants.default_tenant)

    async def TriageTicket(
        self, request: triage_pb2.TriageTicketRequest, context: grpc.aio.ServicerContext
    ) -> triage_pb2.TriageTicketResponse:
        tenant = self._tenant(request.tenant)
        if request.payload and (request.title or request.description):
            raise InvalidArgument(
                "give either a payload or a title/description, not both", reason="BAD_QUERY"
            )
        if request.payload:
            result = await self._service.triage_payload(
                tenant,
                request.payload,
                _source(request.source),
                similar_count=request.similar_count,
            )
            title, description, source, triage = (
                result.title,
                result.description,
                result.source,
                result.triage,
            )
        else:
            title, description, source = request.title, request.description, None
            triage = await self._service.triage_text(
                tenant, title, description, similar_count=request.similar_count
            )
        return triage_pb2.TriageTicketResponse(
            triage=triage_to_proto(triage),
            title=title,
            description=description,
            source=SOURCE_TO_PROTO.get(source, 0) if source else 0,
        )

    async def FindSimilarTickets(
        self, request: triage_pb2.FindSimilarTicketsRequest, context: grpc.aio.ServicerContext
    ) -> triage_pb2.FindSimilarTicketsResponse:
        found = await self._service.find_similar(
            self._tenant(request.tenant),
            ticket_id=request.ticket_id,
            text=request.text,
            limit=request.page_size,
        )
        return triage_pb2.FindSimilarTicketsResponse(
            similar=triage_to_proto({"similar": found}).similar
        )

    async def ListCategories(
        self, request: triage_pb2.ListCategoriesRequest, context: grpc.aio.ServicerContext
    ) -> triage_pb2.ListCategoriesResponse:
        categories, version = await self._service.categories(self._tenant(request.tenant))
        return triage_pb2.ListCategoriesResponse(categories=categories, model_version=version)
