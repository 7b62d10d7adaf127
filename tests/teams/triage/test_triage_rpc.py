"""omega.triage.v1.TriageService over real gRPC: triage without storing, errors as statuses."""

from __future__ import annotations

import json

import grpc
import pytest
from omega.triage.v1 import triage_pb2, triage_pb2_grpc

from mesh.app import EmbeddedMesh
from sdk.client import OmegaClient


async def test_triage_ticket_answers_without_storing_anything(mesh: EmbeddedMesh) -> None:
    async with OmegaClient(mesh.grpc_target) as client:
        resp = await client.triage_ticket(title="Outlook", description="mail will not sync")
        assert resp.triage.category.label == "Email" and resp.triage.reasons
        assert resp.description == "mail will not sync"
        payload = json.dumps({"id": "G-1", "title": "Printer", "description": "jam", "version": "1",
                              "event": "created"}).encode()
        resp = await client.triage_ticket(payload=payload)
        assert resp.title == "Printer" and resp.source != 0
        tickets, _ = await client.list_tickets()
        assert tickets == []
        categories, version = await client.list_categories()
        assert (categories, version) == ([], "")  # the test triager has no model


async def test_triage_errors_are_statuses(mesh: EmbeddedMesh) -> None:
    async with OmegaClient(mesh.grpc_target) as client:
        stub = triage_pb2_grpc.TriageServiceStub(client.channel)
        cases = [
            (triage_pb2.TriageTicketRequest(), grpc.StatusCode.INVALID_ARGUMENT),
            (triage_pb2.TriageTicketRequest(title="x", payload=b"{}"), grpc.StatusCode.INVALID_ARGUMENT),
            (triage_pb2.TriageTicketRequest(payload=b"not json"), grpc.StatusCode.INVALID_ARGUMENT),
            (triage_pb2.TriageTicketRequest(tenant="nobody", title="x"), grpc.StatusCode.NOT_FOUND),
            (triage_pb2.TriageTicketRequest(tenant="Bad Tenant", title="x"), grpc.StatusCode.INVALID_ARGUMENT),
        ]
        for request, code in cases:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.TriageTicket(request, timeout=5)
            assert err.value.code() is code, request
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.FindSimilarTickets(triage_pb2.FindSimilarTicketsRequest(ticket_id="tkt_x"), timeout=5)
        assert err.value.code() is grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.FindSimilarTickets(triage_pb2.FindSimilarTicketsRequest(), timeout=5)
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
