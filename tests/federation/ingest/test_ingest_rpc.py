"""IngestService over a real gRPC server (port 0) and a real channel."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from omega.ingest.v1 import ingest_pb2
from omega.tickets.v1 import ticket_pb2

from connectors.contract import Source
from mesh.app import EmbeddedMesh
from mesh.demo import wait_settled
from sdk.client import OmegaClient


@pytest.fixture
def mesh_components() -> list[object]:
    """Only ingest and the pipeline: no downstream team moves tickets past TRIAGED here."""
    return []


def generic(ticket_id: str, title: str, description: str = "details", **extra: str) -> bytes:
    return json.dumps({"id": ticket_id, "title": title, "description": description, **extra}).encode()


def error_info(err: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(err)
    assert status is not None, "the error carries no rich status"
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return info


async def test_ingest_stores_normalizes_and_triages_a_ticket(mesh: EmbeddedMesh) -> None:
    async with OmegaClient(mesh.grpc_target) as client:
        res = await client.ingest_ticket(generic("G-1", "Outlook keeps asking for my password"))
        assert res.ticket_id.startswith("tkt_") and not res.duplicate
        assert res.source is Source.GENERIC
        ticket = await wait_settled(client, res.ticket_id, timeout_s=10)
    assert ticket.state == ticket_pb2.TICKET_STATE_TRIAGED
    assert ticket.title == "Outlook keeps asking for my password"
    assert ticket.triage.category.label == "Email"
    assert ticket.triage.model_version == "test-1"
    assert ticket.raw_payload_id == res.raw_payload_id


async def test_same_version_twice_is_one_ticket_and_a_duplicate(mesh: EmbeddedMesh) -> None:
    payload = generic("G-2", "Printer offline", version="7")
    async with OmegaClient(mesh.grpc_target) as client:
        first = await client.ingest_ticket(payload)
        second = await client.ingest_ticket(payload)
        newer = await client.ingest_ticket(generic("G-2", "Printer offline again", version="8"))
        tickets, _ = await client.list_tickets()
    assert not first.duplicate and second.duplicate
    assert second.ticket_id == first.ticket_id == newer.ticket_id
    assert not newer.duplicate
    assert [t.id for t in tickets].count(first.ticket_id) == 1


async def test_concurrent_redeliveries_make_one_ticket(mesh: EmbeddedMesh) -> None:
    payload = generic("G-3", "VPN drops every hour", version="1")
    async with OmegaClient(mesh.grpc_target) as client:
        results = await asyncio.gather(*(client.ingest_ticket(payload) for _ in range(20)))
    assert len({r.ticket_id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1


async def test_malformed_json_is_invalid_argument_and_kept_for_replay(mesh: EmbeddedMesh) -> None:
    async with OmegaClient(mesh.grpc_target) as client:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.ingest_ticket(b'{"id": "X-1", "title": "broken', source=Source.GENERIC)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        info = error_info(caught.value)
        assert info.reason == "MALFORMED_JSON"
        dead_id = info.metadata["dead_letter_id"]
        dead = await client.list_dead_letters()
        assert [d.id for d in dead] == [dead_id]
        assert dead[0].stage == "ingest" and dead[0].raw_payload_id
        # Replaying bytes that are still broken is refused and the dead letter stays.
        with pytest.raises(grpc.aio.AioRpcError) as again:
            await client.replay_dead_letter(dead_id)
        assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert len(await client.list_dead_letters()) == 1


async def test_unrecognised_shape_replays_once_the_source_is_named(mesh: EmbeddedMesh) -> None:
    odd = json.dumps({"id": "K-9", "title": "Disk full on FS01", "severity": "high"}).encode()
    async with OmegaClient(mesh.grpc_target) as client:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.ingest_ticket(odd)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        dead_id = error_info(caught.value).metadata["dead_letter_id"]
        # An operator decides it is a Kaseya BMS webhook trigger and replays it as such.
        ticket_id = await client.replay_dead_letter(dead_id, source=Source.KASEYA_BMS)
        assert ticket_id.startswith("tkt_")
        assert await client.list_dead_letters() == []
        assert len(await client.list_dead_letters(include_replayed=True)) == 1
        with pytest.raises(grpc.aio.AioRpcError) as twice:
            await client.replay_dead_letter(dead_id)
        assert twice.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_bad_requests_get_the_right_status(mesh: EmbeddedMesh) -> None:
    async with OmegaClient(mesh.grpc_target) as client:
        cases = [
            (client.ingest_ticket(b""), grpc.StatusCode.INVALID_ARGUMENT),
            (client.ingest_ticket(generic("Z", "t"), tenant="nobody"), grpc.StatusCode.NOT_FOUND),
            (client.ingest_ticket(generic("Z", "t"), tenant="Bad Tenant!"), grpc.StatusCode.INVALID_ARGUMENT),
            (client.get_ticket("tkt_missing"), grpc.StatusCode.NOT_FOUND),
            (client.get_ticket(""), grpc.StatusCode.INVALID_ARGUMENT),
            (client.list_tickets(page_token="%%%"), grpc.StatusCode.INVALID_ARGUMENT),
            (client.replay_dead_letter("dl_missing"), grpc.StatusCode.NOT_FOUND),
        ]
        for call, code in cases:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            assert caught.value.code() == code
        # A payload claimed as the wrong vendor is refused, not mis-parsed.
        with pytest.raises(grpc.aio.AioRpcError) as wrong:
            await client.ingest_ticket(generic("Z", "t"), source=Source.AUTOTASK)
        assert wrong.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_batch_ingest_reports_each_item(mesh: EmbeddedMesh) -> None:
    async with OmegaClient(mesh.grpc_target) as client:
        results = await client.batch_ingest(
            [generic("B-1", "New laptop for Anna"), b"not json", generic("B-1", "New laptop for Anna")]
        )
    assert not results[0].duplicate  # type: ignore[union-attr]
    assert results[1] == grpc.StatusCode.INVALID_ARGUMENT
    assert results[2].duplicate  # type: ignore[union-attr]


async def test_tenants_never_see_each_others_tickets(tmp_path, triager) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_settings

    settings = make_settings(tmp_path)
    settings.data_dir.mkdir(parents=True)
    settings.tenants_path.write_text('[tenants.default]\n[tenants.acme]\n[tenants.globex]\n')
    m = EmbeddedMesh(settings, triager=triager, components=[])
    await m.start()
    try:
        async with OmegaClient(m.grpc_target, tenant="acme") as acme, OmegaClient(
            m.grpc_target, tenant="globex"
        ) as globex:
            res = await acme.ingest_ticket(generic("SAME-1", "Acme's secret ticket"))
            other = await globex.ingest_ticket(generic("SAME-1", "Globex ticket with the same id"))
            assert other.ticket_id != res.ticket_id and not other.duplicate
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await globex.get_ticket(res.ticket_id)
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND
            listed, _ = await globex.list_tickets()
            assert [t.id for t in listed] == [other.ticket_id]
    finally:
        await m.stop(grace_s=0.5)


async def test_list_tickets_pages_and_filters_by_state(mesh: EmbeddedMesh) -> None:
    async with OmegaClient(mesh.grpc_target) as client:
        ids = [(await client.ingest_ticket(generic(f"P-{i}", f"Ticket {i}"))).ticket_id for i in range(7)]
        review = await client.ingest_ticket(generic("P-R", "please review me"))
        for i in [*ids, review.ticket_id]:
            await wait_settled(client, i, timeout_s=10)
        seen, token = [], ""
        while True:
            page, token = await client.list_tickets(page_size=3, page_token=token)
            assert len(page) <= 3
            seen += [t.id for t in page]
            if not token:
                break
        needs_review, _ = await client.list_tickets(state=ticket_pb2.TICKET_STATE_NEEDS_REVIEW)
    assert seen == sorted(seen, reverse=True) and len(seen) == 8
    assert [t.id for t in needs_review] == [review.ticket_id]


async def test_health_and_reflection_are_served(mesh: EmbeddedMesh) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    async with grpc.aio.insecure_channel(mesh.grpc_target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", "omega.ingest.v1.IngestService", "omega.tickets.v1.TicketService"):
            resp = await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
        refl = reflection_pb2_grpc.ServerReflectionStub(channel)

        async def requests():  # type: ignore[no-untyped-def]
            yield reflection_pb2.ServerReflectionRequest(list_services="")

        async for resp in refl.ServerReflectionInfo(requests(), timeout=5):
            names = {s.name for s in resp.list_services_response.service}
            break
    assert {"omega.ingest.v1.IngestService", "omega.tickets.v1.TicketService", "grpc.health.v1.Health"} <= names
    assert ingest_pb2.DESCRIPTOR.package == "omega.ingest.v1"


async def test_a_burst_is_recognised_by_its_rate_not_only_by_calls_in_flight(mesh: EmbeddedMesh) -> None:
    """When the event loop cannot keep up, most calls of a burst wait in the gRPC layer and few
    are inside the service at once: the rate of calls started (≥ 40 within ~200 ms) marks the
    burst too, so the pipeline yields; a few calls one at a time do not."""
    assert mesh.ctx is not None
    ingest = mesh.ctx.services["ingest"]
    assert not ingest.busy()
    async with OmegaClient(mesh.grpc_target) as client:
        for i in range(3):  # a few calls, one at a time: not a burst
            await client.ingest_ticket(json.dumps({"id": f"R-{i}", "title": "slow"}).encode())
        assert not ingest.busy() and ingest.in_flight == 0
        seen: list[bool] = []
        burst = asyncio.gather(*(
            client.ingest_ticket(json.dumps({"id": f"B-{i}", "title": "burst"}).encode())
            for i in range(60)
        ))
        while not burst.done():
            seen.append(ingest.busy())
            await asyncio.sleep(0.001)
        await burst
        assert any(seen)  # the pipeline would have yielded during the burst
    await asyncio.sleep(0.25)
    assert not ingest.busy()  # over once ~200 ms pass without calls
    # The rate alone, with nothing in flight (calls queued in the gRPC layer look like this):
    for _ in range(40):
        ingest._count_start()
    assert ingest.in_flight == 0 and ingest.busy()
    await asyncio.sleep(0.25)
    assert not ingest.busy()
