"""End to end: a signed Autotask webhook → triage → the technician's queue with a proposal →
confirm in the dashboard API → runbook applied, written back to the Autotask stand-in, resolution
and audit recorded; and a rejection that leaves the ticket untouched and teaches the model.

The PSA is a local HTTP stand-in (tests/teams/shadow/standins.py), not Autotask's server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import grpc
import httpx
import pytest
from omega.shadow.v1 import shadow_pb2, shadow_pb2_grpc
from omega.tickets.v1 import ticket_pb2, ticket_service_pb2, ticket_service_pb2_grpc

from backends.records import TicketState
from federation.serving import new_server
from federation.tickets.servicer import TicketServicer
from teams.shadow.store import ProposalState
from tests.teams.shadow.conftest import AUTOTASK_SECRET, ShadowRig


def signed(doc: dict[str, object]) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(doc).encode()
    sig = base64.b64encode(hmac.new(AUTOTASK_SECRET.encode(), raw, hashlib.sha1).digest()).decode()
    return raw, {"X-Hook-Signature": f"sha1={sig}"}


def webhook(ext_id: int, title: str, description: str) -> dict[str, object]:
    return {"Action": "Create", "EntityType": "Ticket", "Id": ext_id, "SequenceNumber": 1, "Guid": f"g{ext_id}",
            "Fields": {"Title": title, "Description": description, "Priority": 1, "QueueID": 29682833}}


async def post_webhook(rig: ShadowRig, doc: dict[str, object]) -> str:
    raw, headers = signed(doc)
    async with httpx.AsyncClient() as http:
        resp = await http.post(f"http://127.0.0.1:{rig.mesh.http_port}/webhooks/autotask", content=raw, headers=headers)
    assert resp.status_code == 202
    return str(resp.json()["ticket_id"])


async def test_webhook_to_confirmed_runbook_written_back_and_audited(rig: ShadowRig) -> None:
    tid = await post_webhook(rig, webhook(48120, "Reception printer jammed [tech:alice]",
                                          "The Brother printer at reception has a paper jam."))
    await rig.wait_state(tid, TicketState.PROPOSED)
    api = f"http://127.0.0.1:{rig.mesh.http_port}/api/shadow"
    async with httpx.AsyncClient(headers={"X-Omega-Technician": "alice"}) as http:
        queue = (await http.get(f"{api}/queue")).json()
        assert [i["ticket"]["id"] for i in queue["items"]] == [tid]
        proposal = queue["items"][0]["proposal"]
        assert proposal["runbook"] == "printer_queue_restart" and proposal["state"] == "PROPOSED"
        # bob cannot take alice's proposal.
        denied = await http.post(f"{api}/proposals/{proposal['id']}/token", json={"technician": "bob"})
        assert denied.status_code == 403
        token = (await http.post(f"{api}/proposals/{proposal['id']}/token", json={})).json()["token"]
        confirmed = await http.post(f"{api}/proposals/{proposal['id']}/confirm", json={"token": token})
        assert confirmed.status_code == 200 and confirmed.json()["state"] == "APPLIED"
        replay = await http.post(f"{api}/proposals/{proposal['id']}/confirm", json={"token": token})
        assert replay.status_code == 409
        detail = (await http.get(f"{api}/tickets/{tid}")).json()
    assert rig.executor.runs == [("default", "printer_queue_restart", {"printer": "Reception"})]
    [write] = rig.psa.seen
    assert (write.method, write.path) == ("PATCH", "/atservicesrest/v1.0/Tickets")
    assert write.body["id"] == 48120 and write.body["status"] == 5 and "resolution" in write.body
    assert detail["ticket"]["state"] == "RESOLVED"
    assert [w["status"] for w in detail["writebacks"]] == ["done"]
    actions = [a["action"] for a in detail["audit"]]
    assert actions == ["routed", "proposed", "confirmed", "written_back", "applied", "resolved"]
    assert all(a["at"] > 0 for a in detail["audit"])
    resolutions = await rig.service.shadow.resolutions("default", ticket_id=tid)
    assert len(resolutions) == 1 and resolutions[0]["technician"] == "alice"
    # A write whose idempotency key succeeded is never repeated.
    record = await rig.mesh.store.tickets.get("default", tid)  # type: ignore[union-attr]
    assert record is not None
    p = (await rig.service.shadow.proposals("default", ticket_id=tid))[0]
    from teams.shadow.writeback import TicketChange

    await rig.service._write(record, TicketChange(resolved=True), f"{p.id}:resolve")
    assert len(rig.psa.seen) == 1


async def test_webhook_then_reject_leaves_the_ticket_untouched_and_records_an_example(rig: ShadowRig) -> None:
    tid = await post_webhook(rig, webhook(48121, "Printer jammed again [tech:alice]", "Reception printer jammed"))
    await rig.wait_state(tid, TicketState.PROPOSED)
    before = await rig.mesh.store.tickets.get("default", tid)  # type: ignore[union-attr]
    p = (await rig.service.shadow.proposals("default", ticket_id=tid))[0]
    api = f"http://127.0.0.1:{rig.mesh.http_port}/api/shadow"
    async with httpx.AsyncClient(headers={"X-Omega-Technician": "alice"}) as http:
        resp = await http.post(f"{api}/proposals/{p.id}/reject", json={"reason": "cable fault", "category": "Network"})
    assert resp.status_code == 200 and resp.json()["state"] == "REJECTED"
    after = await rig.mesh.store.tickets.get("default", tid)  # type: ignore[union-attr]
    assert after is not None and before is not None
    assert (after.state, after.fields, after.triage) == (before.state, before.fields, before.triage)
    assert rig.psa.seen == [] and rig.executor.runs == []
    assert [(e["kind"], e["category"]) for e in await rig.service.shadow.examples("default")] == [
        ("rejected_proposal", "Network")]


async def test_shadow_service_over_grpc_scopes_by_technician(rig: ShadowRig) -> None:
    tid = await rig.ingest("G-1", "Printer jammed [tech:alice]", "Reception printer jammed")
    await rig.wait_state(tid, TicketState.PROPOSED)
    stub = shadow_pb2_grpc.ShadowServiceStub(rig.client.channel)
    alice = (("x-omega-technician", "alice"),)
    bob = (("x-omega-technician", "bob"),)
    mine = await stub.ListMyQueue(shadow_pb2.ListMyQueueRequest(), metadata=alice)
    assert [i.ticket.id for i in mine.items] == [tid]
    assert mine.items[0].proposal.state == ticket_pb2.PROPOSAL_STATE_PROPOSED
    sugg = await stub.GetSuggestions(shadow_pb2.GetSuggestionsRequest(ticket_id=tid), metadata=alice)
    assert sugg.confirmation_token and sugg.proposal.dry_run and sugg.proposal.reply_draft
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetSuggestions(shadow_pb2.GetSuggestionsRequest(ticket_id=tid), metadata=bob)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.ListMyQueue(shadow_pb2.ListMyQueueRequest())
    assert missing.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    card = await stub.GetScorecard(shadow_pb2.GetScorecardRequest())
    assert card.tickets == 1


async def test_ticket_service_technician_actions_over_grpc(rig: ShadowRig) -> None:
    """TicketService's new RPCs on a server wired with the shadow domain (as the mesh will be)."""
    assert rig.mesh.store is not None and rig.mesh.tenants is not None
    server = new_server()
    ticket_service_pb2_grpc.add_TicketServiceServicer_to_server(
        TicketServicer(rig.mesh.store.tickets, rig.mesh.tenants, actions=rig.service), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        a = await rig.ingest("G-2", "Printer jammed [tech:alice]", "Reception printer jammed")
        b = await rig.ingest("G-3", "Printer broken [tech:alice]", "Reception printer jammed")
        for tid in (a, b):
            await rig.wait_state(tid, TicketState.PROPOSED)
        pa = (await rig.service.shadow.proposals("default", ticket_id=a))[0]
        pb = (await rig.service.shadow.proposals("default", ticket_id=b))[0]
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = ticket_service_pb2_grpc.TicketServiceStub(ch)
            alice, bob = (("x-omega-technician", "alice"),), (("x-omega-technician", "bob"),)
            token, _ = await rig.service.issue_token("default", pa.id, "alice")
            with pytest.raises(grpc.aio.AioRpcError) as other:
                await stub.ConfirmProposal(ticket_service_pb2.ConfirmProposalRequest(
                    proposal_id=pa.id, confirmation_token=token), metadata=bob)
            assert other.value.code() == grpc.StatusCode.PERMISSION_DENIED
            ok = await stub.ConfirmProposal(ticket_service_pb2.ConfirmProposalRequest(
                proposal_id=pa.id, confirmation_token=token), metadata=alice)
            assert ok.proposal.state == ticket_pb2.PROPOSAL_STATE_APPLIED
            with pytest.raises(grpc.aio.AioRpcError) as replay:
                await stub.ConfirmProposal(ticket_service_pb2.ConfirmProposalRequest(
                    proposal_id=pa.id, confirmation_token=token), metadata=alice)
            assert replay.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            rej = await stub.RejectProposal(ticket_service_pb2.RejectProposalRequest(proposal_id=pb.id), metadata=alice)
            assert rej.proposal.state == ticket_pb2.PROPOSAL_STATE_REJECTED
            cor = await stub.CorrectTriage(ticket_service_pb2.CorrectTriageRequest(
                ticket_id=b, category="Network"), metadata=alice)
            assert cor.ticket.triage.category.label == "Network"
            assert cor.ticket.triage.category.method == ticket_pb2.DECISION_METHOD_HUMAN
            res = await stub.ResolveTicket(ticket_service_pb2.ResolveTicketRequest(
                ticket_id=b, resolution="Replaced the cable"), metadata=alice)
            assert res.ticket.state == ticket_pb2.TICKET_STATE_RESOLVED and res.resolution_id
    finally:
        await server.stop(0.5)
    assert (await rig.service.shadow.proposals("default", ticket_id=b))[0].state is ProposalState.REJECTED


async def test_ticket_actions_without_the_shadow_team_are_failed_precondition(rig: ShadowRig) -> None:
    assert rig.mesh.store is not None and rig.mesh.tenants is not None
    server = new_server()
    ticket_service_pb2_grpc.add_TicketServiceServicer_to_server(
        TicketServicer(rig.mesh.store.tickets, rig.mesh.tenants), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = ticket_service_pb2_grpc.TicketServiceStub(ch)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.ResolveTicket(ticket_service_pb2.ResolveTicketRequest(ticket_id="t", resolution="x"))
    finally:
        await server.stop(0.5)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_failed_write_back_undoes_the_runbook_and_fails_the_proposal(rig: ShadowRig) -> None:
    tid = await post_webhook(rig, webhook(48122, "Printer jammed [tech:alice]", "Reception printer jammed"))
    await rig.wait_state(tid, TicketState.PROPOSED)
    p = (await rig.service.shadow.proposals("default", ticket_id=tid))[0]
    rig.psa.fail_first = 100  # the PSA stand-in answers 503 to every attempt
    token, _ = await rig.service.issue_token("default", p.id, "alice")
    done = await rig.service.confirm("default", p.id, "alice", token)
    assert done.state is ProposalState.FAILED and "write-back failed" in done.error
    assert len(rig.psa.seen) == 4  # bounded retries, same idempotency key
    assert len({s.headers["idempotency-key"] for s in rig.psa.seen}) == 1
    assert len(rig.executor.runs) == 1 and len(rig.executor.undone) == 1
    assert await rig.service.shadow.resolutions("default", ticket_id=tid) == []


async def test_revert_undoes_the_runbook_and_reopens_the_psa_ticket(rig: ShadowRig) -> None:
    tid = await post_webhook(rig, webhook(48123, "Printer jammed [tech:alice]", "Reception printer jammed"))
    await rig.wait_state(tid, TicketState.PROPOSED)
    p = (await rig.service.shadow.proposals("default", ticket_id=tid))[0]
    token, _ = await rig.service.issue_token("default", p.id, "alice")
    await rig.service.confirm("default", p.id, "alice", token)
    reverted = await rig.service.revert("default", p.id, "alice")
    assert reverted.state is ProposalState.REVERTED and len(rig.executor.undone) == 1
    resolve, reopen = rig.psa.seen
    assert resolve.body["status"] == 5 and reopen.body == {"id": 48123, "status": 1}  # back to "New"
    assert rig.mesh.store is not None
    assert (await rig.mesh.store.tickets.get("default", tid)).state is TicketState.PROPOSED  # type: ignore[union-attr]
