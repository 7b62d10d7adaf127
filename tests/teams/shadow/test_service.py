"""The shadow team's domain over a real embedded mesh (port 0): proposals, tokens, policy, learning."""

from __future__ import annotations

import json
import sqlite3

import pytest

from backends.records import TicketState
from connectors.contract import Source
from federation.errors import FailedPrecondition, PermissionDenied
from teams.shadow.learning import read_examples, training_rows
from teams.shadow.store import ProposalKind, ProposalState
from tests.teams.shadow.conftest import ShadowRig

PROPOSED = (TicketState.PROPOSED, TicketState.RESOLVED)


async def proposal_of(rig: ShadowRig, ticket_id: str):  # type: ignore[no-untyped-def]
    ps = await rig.service.shadow.proposals("default", ticket_id=ticket_id)
    assert ps, "no proposal"
    return ps[0]


async def test_a_triaged_ticket_reaches_its_technician_with_a_runbook_proposal(rig: ShadowRig) -> None:
    tid = await rig.ingest("T-1", "Printer queue stuck [tech:alice]", "The Brother printer at reception is jammed.",
                           contact_name="Ann Lee", contact_email="ann@client.example")
    await rig.wait_state(tid, TicketState.PROPOSED)
    p = await proposal_of(rig, tid)
    assert (p.technician, p.kind, p.state, p.runbook) == ("alice", ProposalKind.RUNBOOK, ProposalState.PROPOSED,
                                                          "printer_queue_restart")
    assert p.params == {"printer": "Brother"}
    assert "ann@client.example" not in p.suggestion["reply_draft"] and p.suggestion["reply_draft"].startswith("Hello Ann")
    assert p.suggestion["summary"] and p.suggestion["triage_reasons"] == ["the words point to Printing"]
    queue = await rig.service.my_queue("default", "alice")
    assert [i.ticket.id for i in queue] == [tid]
    assert await rig.service.my_queue("default", "bob") == []


async def test_routing_falls_back_to_assignee_then_queue_default_then_unassigned(rig: ShadowRig) -> None:
    by_assignee = await rig.ingest("R-1", "Question about Teams", "", assignee="bob")
    by_queue = await rig.ingest("R-2", "Question about Excel", "")
    for tid in (by_assignee, by_queue):
        await rig.wait_state(tid, TicketState.PROPOSED)
    assert (await proposal_of(rig, by_assignee)).technician == "bob"
    assert (await proposal_of(rig, by_queue)).technician == "dora"  # Service Desk's default


async def test_confirm_needs_a_fresh_token_of_the_same_technician(rig: ShadowRig) -> None:
    tid = await rig.ingest("K-1", "Printer offline [tech:alice]", "Reception printer shows offline")
    await rig.wait_state(tid, TicketState.PROPOSED)
    p = await proposal_of(rig, tid)
    svc = rig.service
    # Another technician can neither get a token nor confirm alice's proposal.
    with pytest.raises(PermissionDenied):
        await svc.issue_token("default", p.id, "bob")
    token, _ = await svc.issue_token("default", p.id, "alice")
    with pytest.raises(PermissionDenied):
        await svc.confirm("default", p.id, "bob", token)
    with pytest.raises(PermissionDenied):
        await svc.confirm("default", p.id, "alice", "not-a-token")
    # An expired token is refused.
    stale, _ = await svc.issue_token("default", p.id, "alice")
    real_clock = svc.clock
    svc.clock = lambda: real_clock() + 3600
    with pytest.raises(FailedPrecondition) as expired:
        await svc.confirm("default", p.id, "alice", stale)
    assert expired.value.reason == "TOKEN_EXPIRED"
    svc.clock = real_clock
    done = await svc.confirm("default", p.id, "alice", token)
    assert done.state is ProposalState.APPLIED
    with pytest.raises(FailedPrecondition) as replay:
        await svc.confirm("default", p.id, "alice", token)
    assert replay.value.reason == "TOKEN_USED"
    # Only hashes are stored.
    assert rig.mesh.store is not None
    rows = await rig.mesh.store.db.read(lambda c: c.execute("SELECT token_sha256 FROM shadow_tokens").fetchall())
    assert token not in {r[0] for r in rows} and len(rows) == 2


async def test_lifecycle_refuses_illegal_transitions_and_reverts_with_the_executor(rig: ShadowRig) -> None:
    tid = await rig.ingest("L-1", "Printer jam [tech:alice]", "Reception printer jammed")
    await rig.wait_state(tid, TicketState.PROPOSED)
    p = await proposal_of(rig, tid)
    with pytest.raises(FailedPrecondition):
        await rig.service.revert("default", p.id, "alice")  # PROPOSED cannot be REVERTED
    token, _ = await rig.service.issue_token("default", p.id, "alice")
    await rig.service.confirm("default", p.id, "alice", token)
    with pytest.raises(FailedPrecondition):
        await rig.service.reject("default", p.id, "alice")  # APPLIED cannot be REJECTED
    reverted = await rig.service.revert("default", p.id, "alice")
    assert reverted.state is ProposalState.REVERTED
    assert len(rig.executor.undone) == 1
    assert rig.mesh.store is not None
    assert (await rig.mesh.store.tickets.get("default", tid)).state is TicketState.PROPOSED  # type: ignore[union-attr]
    actions = [a.action for a in await rig.service.shadow.audit_log("default", ticket_id=tid)]
    assert actions[:2] == ["routed", "proposed"] and {"confirmed", "applied", "resolved", "reverted"} <= set(actions)


async def test_expired_proposals_cannot_be_confirmed(rig: ShadowRig) -> None:
    tid = await rig.ingest("E-1", "Printer jam [tech:alice]", "Reception printer jammed")
    await rig.wait_state(tid, TicketState.PROPOSED)
    p = await proposal_of(rig, tid)
    token, _ = await rig.service.issue_token("default", p.id, "alice")
    real_clock = rig.service.clock
    rig.service.clock = lambda: real_clock() + 8 * 86400  # the proposal TTL is a week
    try:
        with pytest.raises(FailedPrecondition):
            await rig.service.confirm("default", p.id, "alice", token)
    finally:
        rig.service.clock = real_clock
    assert (await proposal_of(rig, tid)).state is ProposalState.EXPIRED


async def test_auto_apply_needs_policy_threshold_and_not_co_managed(rig: ShadowRig) -> None:
    allowed = await rig.ingest("A-1", "Disk space low on GRNF-SQL01 [tech:alice]", "D: free space 2%")
    low = await rig.ingest("A-2", "Disk space low on GRNF-SQL02 [tech:alice] [low]", "D: free space 2%")
    co_managed = await rig.ingest("A-3", "Disk space low on CT-FS01 [tech:alice]", "E: free space 1%",
                                  contact_email="it@cotenant.example")
    not_in_policy = await rig.ingest("A-4", "Printer jammed [tech:alice]", "Reception printer jammed")
    needs_confirmation = await rig.ingest("A-5", "I am locked out [tech:alice]", "Please reset my password, "
                                          "it expired", contact_email="u@client.example")
    await rig.wait_state(allowed, TicketState.RESOLVED)
    for tid in (low, co_managed, not_in_policy, needs_confirmation):
        await rig.wait_state(tid, TicketState.PROPOSED)
    auto = await proposal_of(rig, allowed)
    assert auto.auto and auto.state is ProposalState.APPLIED
    assert ("default", "disk_cleanup", {"device": "GRNF-SQL01", "disk": "D:"}) in rig.executor.runs
    reasons = {tid: (await proposal_of(rig, tid)).suggestion["auto_apply"] for tid in (low, co_managed, not_in_policy)}
    assert "below the runbook's threshold" in reasons[low]
    assert "co-managed" in reasons[co_managed]
    assert "does not auto-apply" in reasons[not_in_policy]
    for tid in (low, co_managed, not_in_policy, needs_confirmation):
        assert (await proposal_of(rig, tid)).state is ProposalState.PROPOSED
    audit = await rig.service.shadow.audit_log("default", ticket_id=allowed)
    assert [a.actor for a in audit if a.action == "auto_confirmed"] == ["shadow-agent:auto"]
    assert all(a.model_version == "kw-1" for a in audit if a.action in ("proposed", "auto_confirmed", "applied"))


async def test_reject_leaves_the_ticket_untouched_and_records_a_labelled_example(rig: ShadowRig) -> None:
    tid = await rig.ingest("J-1", "Printer jammed [tech:alice]", "Reception printer jammed")
    await rig.wait_state(tid, TicketState.PROPOSED)
    p = await proposal_of(rig, tid)
    assert rig.mesh.store is not None
    before = await rig.mesh.store.tickets.get("default", tid)
    rejected = await rig.service.reject("default", p.id, "alice", "it is a network fault", {"category": "Network"})
    assert rejected.state is ProposalState.REJECTED
    after = await rig.mesh.store.tickets.get("default", tid)
    assert after is not None and before is not None
    assert (after.state, after.triage, after.fields) == (before.state, before.triage, before.fields)
    assert rig.executor.runs == [] and rig.psa.seen == []
    examples = await rig.service.shadow.examples("default")
    assert [(e["kind"], e["category"]) for e in examples] == [("rejected_proposal", "Network")]


async def test_correction_is_stored_written_back_and_becomes_training_data(rig: ShadowRig) -> None:
    tid = await rig.ingest("C-1", "Printer jammed [tech:alice]", "Reception printer jammed")
    await rig.wait_state(tid, TicketState.PROPOSED)
    with pytest.raises(PermissionDenied):
        await rig.service.correct("default", tid, "bob", category="Network")
    record = await rig.service.correct("default", tid, "alice", category="Network", priority="Low")
    assert record.triage is not None
    assert record.triage["category"]["label"] == "Network" and record.triage["category"]["method"] == "human"
    assert record.triage["original"]["category"]["label"] == "Printing"
    card = await rig.service.scorecard("default")
    assert card["corrections"] == 1 and card["confident_but_wrong"] == 1  # Printing was 0.90 sure
    assert rig.mesh.store is not None
    rows = read_examples(rig.mesh.settings.data_dir / "omega.db", "default")
    assert [(r["kind"], r["category"], r["priority"]) for r in rows] == [("correction", "Network", "Low")]
    trained = training_rows(rig.mesh.settings.data_dir / "omega.db", "default")
    assert [(t.category, t.priority) for t in trained] == [("Network", "Low")]


async def test_resolve_records_and_a_reopen_within_30_days_marks_it_failed(rig: ShadowRig) -> None:
    tid = await rig.ingest("Z-1", "Question about Excel [tech:alice]", "How do I freeze panes?")
    await rig.wait_state(tid, TicketState.PROPOSED)
    rid = await rig.service.resolve("default", tid, "alice", "Showed the user View > Freeze Panes")
    assert rid
    assert rig.mesh.store is not None
    assert (await rig.mesh.store.tickets.get("default", tid)).state is TicketState.RESOLVED  # type: ignore[union-attr]
    # The PSA reopens it: a new version with new text re-enters the pipeline.
    doc = {"id": "Z-1", "title": "Question about Excel [tech:alice]", "description": "Still broken",
           "version": "2", "event": "updated", "status": "Reopened"}
    await rig.client.ingest_ticket(json.dumps(doc).encode(), source=Source.GENERIC)

    async def reopened() -> bool:
        res = await rig.service.shadow.resolutions("default", ticket_id=tid)
        return bool(res) and res[0]["reopened_at"] is not None

    await rig.wait(reopened)
    card = await rig.service.scorecard("default")
    assert card["reopen_rate"] == 1.0


async def test_the_audit_log_is_append_only(rig: ShadowRig) -> None:
    tid = await rig.ingest("U-1", "Printer jammed [tech:alice]", "Reception printer jammed")
    await rig.wait_state(tid, TicketState.PROPOSED)
    assert rig.mesh.store is not None
    with pytest.raises(sqlite3.IntegrityError):
        await rig.mesh.store.db.write(lambda c: c.execute("UPDATE shadow_audit SET actor='x'"))
    with pytest.raises(sqlite3.IntegrityError):
        await rig.mesh.store.db.write(lambda c: c.execute("DELETE FROM shadow_audit"))


async def test_a_redelivered_triaged_message_makes_no_second_proposal(rig: ShadowRig) -> None:
    tid = await rig.ingest("D-1", "Printer jammed [tech:alice]", "Reception printer jammed")
    await rig.wait_state(tid, TicketState.PROPOSED)
    assert await rig.service.prepare("default", tid) == "skipped"
    assert len(await rig.service.shadow.proposals("default", ticket_id=tid)) == 1


async def test_a_ticket_needing_review_gets_a_triage_proposal_and_is_never_auto_applied(rig: ShadowRig) -> None:
    tid = await rig.ingest("N-1", "Disk space low on GRNF-SQL03 [tech:alice] [review]", "D: free space 1%")
    await rig.wait_state(tid, TicketState.PROPOSED)
    p = await proposal_of(rig, tid)
    assert (p.kind, p.state, p.auto, p.runbook) == (ProposalKind.TRIAGE, ProposalState.PROPOSED, False, "")
    assert p.suggestion["next_step"].startswith("Check the triage first")
    assert rig.executor.runs == []


async def test_an_executor_crash_fails_the_proposal_instead_of_stranding_it(rig: ShadowRig) -> None:
    async def crash(*args: object, **kw: object) -> object:
        raise RuntimeError("rmm unreachable")

    rig.service.executor.run = crash  # type: ignore[method-assign]
    tid = await rig.ingest("X-1", "Printer jammed [tech:alice]", "Reception printer jammed")
    await rig.wait_state(tid, TicketState.PROPOSED)
    p = await proposal_of(rig, tid)
    token, _ = await rig.service.issue_token("default", p.id, "alice")
    done = await rig.service.confirm("default", p.id, "alice", token)
    assert done.state is ProposalState.FAILED and done.error == "RuntimeError"
    assert rig.psa.seen == []
    assert rig.mesh.store is not None
    assert (await rig.mesh.store.tickets.get("default", tid)).state is TicketState.PROPOSED  # type: ignore[union-attr]
