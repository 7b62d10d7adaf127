"""omega.ingest.v1.IngestService: translates protos ↔ the ingest domain service."""

from __future__ import annotations

import asyncio

import grpc
from omega.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from omega.tickets.v1 import ticket_pb2

from backends.records import DeadLetterRecord
from connectors.contract import Source
from federation import paging
from federation.errors import InvalidArgument, OmegaError
from federation.ingest.service import IngestOutcome, IngestService
from federation.tenancy import resolve_tenant
from federation.tickets.convert import PROTO_TO_SOURCE, SOURCE_TO_PROTO, timestamp

MAX_BATCH = 500


def _source(value: int) -> Source | None:
    if value == ticket_pb2.SOURCE_SYSTEM_UNSPECIFIED:
        return None
    try:
        return PROTO_TO_SOURCE[value]  # type: ignore[index]
    except KeyError:
        raise InvalidArgument(f"unknown source system {value}", reason="BAD_SOURCE") from None


def _response(outcome: IngestOutcome) -> ingest_pb2.IngestTicketResponse:
    response = ingest_pb2.IngestTicketResponse(
        ticket_id=outcome.ticket_id, duplicate=outcome.duplicate, raw_payload_id=outcome.raw_payload_id
    )
    if outcome.source:
        response.source = SOURCE_TO_PROTO[outcome.source]  # type: ignore[assignment]
    if outcome.ignored_reason:
        response.ignored = True
        response.ignored_reason = outcome.ignored_reason
    return response


def _dead_letter(r: DeadLetterRecord) -> ingest_pb2.DeadLetter:
    msg = ingest_pb2.DeadLetter(
        id=r.id,
        tenant=r.tenant,
        stage=r.stage,
        reason=r.reason,
        raw_payload_id=r.raw_payload_id,
        ticket_id=r.ticket_id,
        attempts=r.attempts,
        replayed=r.replayed,
        source=SOURCE_TO_PROTO.get(Source(r.source), 0) if r.source else 0,  # type: ignore[arg-type]
    )
    msg.create_time.CopyFrom(timestamp(r.created_at))
    return msg


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, service: IngestService) -> None:
        self._service = service

    def _tenant(self, explicit: str) -> str:
        return resolve_tenant(explicit, self._service.tenants.default_tenant)

    async def _ingest(self, request: ingest_pb2.IngestTicketRequest) -> IngestOutcome:
        return await self._service.ingest(
            self._tenant(request.tenant),
            request.payload,
            source=_source(request.source),
            received_via=request.received_via or "grpc",
        )

    async def IngestTicket(
        self, request: ingest_pb2.IngestTicketRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.IngestTicketResponse:
        return _response(await self._ingest(request))

    async def BatchIngestTickets(
        self, request: ingest_pb2.BatchIngestTicketsRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.BatchIngestTicketsResponse:
        if len(request.requests) > MAX_BATCH:
            raise InvalidArgument(f"at most {MAX_BATCH} payloads per batch", reason="BATCH_TOO_LARGE")

        async def one(item: ingest_pb2.IngestTicketRequest) -> ingest_pb2.BatchIngestResult:
            try:
                return ingest_pb2.BatchIngestResult(response=_response(await self._ingest(item)))
            except OmegaError as exc:
                return ingest_pb2.BatchIngestResult(error_code=exc.code.value[0], error_message=exc.message)

        # Concurrently, so the whole batch shares a few group commits; results keep request order.
        results = await asyncio.gather(*(one(item) for item in request.requests))
        return ingest_pb2.BatchIngestTicketsResponse(results=results)

    async def ListDeadLetters(
        self, request: ingest_pb2.ListDeadLettersRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.ListDeadLettersResponse:
        size = paging.page_size(request.page_size)
        records = await self._service.list_dead_letters(
            self._tenant(request.tenant),
            include_replayed=request.include_replayed,
            limit=size + 1,
            before=paging.decode(request.page_token),
        )
        page, more = records[:size], len(records) > size
        token = paging.encode(page[-1].created_at, page[-1].id) if more and page else ""
        return ingest_pb2.ListDeadLettersResponse(
            dead_letters=[_dead_letter(r) for r in page], next_page_token=token
        )

    async def ReplayDeadLetter(
        self, request: ingest_pb2.ReplayDeadLetterRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.ReplayDeadLetterResponse:
        if not request.dead_letter_id:
            raise InvalidArgument("dead_letter_id is required", reason="MISSING_ID")
        ticket_id = await self._service.replay(
            self._tenant(request.tenant), request.dead_letter_id, source=_source(request.source)
        )
        return ingest_pb2.ReplayDeadLetterResponse(ticket_id=ticket_id)
