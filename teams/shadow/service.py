"""The shadow team's domain logic: prepare proposals, enforce their lifecycle, apply, learn.

Plain async code, no gRPC types (``servicer.py`` and the dashboard API translate). One shadow
agent per technician is a cheap value created on demand (``agent()``); all state lives in the
store, so an idle technician costs nothing.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from backends.ids import new_id
from backends.records import TicketRecord, TicketState
from backends.sqlite.adapters import EmbeddedStore
from federation.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from mesh.settings import TenantDirectory
from teams.shadow import drafting
from teams.shadow.config import ShadowPolicies, ShadowPolicy
from teams.shadow.executor import RecordingExecutor, RunbookExecutor
from teams.shadow.learning import example_store
from teams.shadow.runbooks import RunbookCatalogue, RunbookMatch
from teams.shadow.store import Proposal, ProposalKind, ProposalState, ShadowStore
from teams.shadow.writeback import TicketChange, TicketWriteBack, WriteResult, make_writeback

log = logging.getLogger(__name__)

UNASSIGNED = "unassigned"
OPEN_PROPOSALS = (ProposalState.PROPOSED,)
CLOSED_STATUS_WORDS = ("complete", "closed", "resolved", "done", "cancel")
ROUTABLE = (TicketState.TRIAGED, TicketState.NEEDS_REVIEW, TicketState.ROUTED)
REENTERED = frozenset({TicketState.RECEIVED, TicketState.NORMALIZED, TicketState.TRIAGED,
                       TicketState.NEEDS_REVIEW, TicketState.ROUTED})
SimilarFinder = Callable[[str, str, Any, int], Awaitable[list[dict[str, Any]]]]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ShadowAgent:
    """One technician's shadow agent: a name and its tenant; everything else is in the store."""

    tenant: str
    technician: str


@dataclass(frozen=True)
class QueueItem:
    ticket: TicketRecord
    proposal: Proposal | None
    priority: str
    priority_rank: int
    sla_risk: float


class ShadowService:
    """Prepares each routed ticket and carries out the technicians' decisions."""

    def __init__(
        self,
        store: EmbeddedStore,
        tenants: TenantDirectory,
        policies: ShadowPolicies,
        *,
        executor: RunbookExecutor | None = None,
        writeback_factory: Callable[[str, str], TicketWriteBack] | None = None,
        similar: SimilarFinder | None = None,
        memory: Any | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.shadow = ShadowStore(store.db)
        self.examples = example_store(store)  # Cosmos in production: retraining outlives pods
        self.tenants = tenants
        self.policies = policies
        self.executor: RunbookExecutor = executor or RecordingExecutor()
        self._writeback_factory = writeback_factory
        self._writebacks: dict[tuple[str, str], TicketWriteBack] = {}
        self.similar = similar
        self.memory = memory
        self.clock = clock
        self._catalogues: dict[str, RunbookCatalogue] = {}
        self.listeners: list[Callable[[str], None]] = []  # tenant → "something changed" (live UI)

    # ---- agents and routing ------------------------------------------------------------------
    def agent(self, tenant: str, technician: str) -> ShadowAgent:
        return ShadowAgent(tenant, technician or UNASSIGNED)

    def catalogue(self, tenant: str) -> RunbookCatalogue:
        if tenant not in self._catalogues:
            self._catalogues[tenant] = RunbookCatalogue.load(self.policies.get(tenant).runbooks)
        return self._catalogues[tenant]

    def route(self, record: TicketRecord) -> str:
        """Triage technician, else the PSA's assignee, else the queue's default, else unassigned."""
        triage = record.triage or {}
        tech = _label(triage, "technician")
        if tech:
            return tech
        assignee = str(record.fields.get("assignee", "")).strip()
        if assignee:
            return assignee
        queue = _label(triage, "queue") or str(record.fields.get("queue", ""))
        default = self.policies.get(record.tenant).queue_technicians.get(queue, "")
        return default or UNASSIGNED

    def routed_by(self, record: TicketRecord) -> str:
        """Which rule of ``route`` chose the technician (for the audit)."""
        triage = record.triage or {}
        if _label(triage, "technician"):
            return "triage"
        if str(record.fields.get("assignee", "")).strip():
            return "assignee"
        return "queue_default" if self.route(record) != UNASSIGNED else "unassigned"

    def technicians(self, tenant: str) -> list[str]:
        return sorted(set(self.policies.get(tenant).technicians))

    def writeback_modes(self, tenant: str) -> dict[str, str]:
        targets = self.policies.get(tenant).writeback
        return {source: t.kind for source, t in targets.items()}

    def _changed(self, tenant: str) -> None:
        for listener in list(self.listeners):
            try:
                listener(tenant)
            except Exception:  # noqa: BLE001 - a listener never breaks the flow
                log.exception("shadow listener failed")

    # ---- preparing a proposal (the pipeline step) --------------------------------------------
    async def prepare(self, tenant: str, ticket_id: str) -> str:
        """TRIAGED/NEEDS_REVIEW → ROUTED → PROPOSED for one ticket; "ok" or "skipped"."""
        record = await self.store.tickets.get(tenant, ticket_id)
        if record is None:
            return "skipped"
        await self._note_reopen(record)
        if record.state not in ROUTABLE:
            return "skipped"  # proposed already, resolved, or superseded
        proposal, match = await self._draft(record)
        if not await self.shadow.route_and_propose(
            proposal, tuple(s.value for s in ROUTABLE), self.routed_by(record)
        ):
            return "skipped"
        if match is not None and proposal.auto:
            await self._auto_apply(proposal)
        self._changed(tenant)
        return "ok"

    async def _draft(self, record: TicketRecord) -> tuple[Proposal, RunbookMatch | None]:
        tenant, triage, fields = record.tenant, record.triage or {}, record.fields
        policy = self.policies.get(tenant)
        technician = self.route(record)
        title, description = str(fields.get("title", "")), str(fields.get("description", ""))
        category = _label(triage, "category") or str(fields.get("category", ""))
        needs_review = bool(triage.get("needs_review"))
        similar = list(triage.get("similar") or [])
        # Only when triage did not already look (it reuses the ticket's embedding; asking again
        # here would embed the same text a second time).
        if "similar" not in triage and self.similar is not None:
            try:
                similar = await self.similar(tenant, f"{title}\n{description}", None, 3)
            except Exception:  # noqa: BLE001 - memory enriches, never blocks
                log.exception("similar-ticket recall failed for %s", record.id)
        match = None if needs_review else self.catalogue(tenant).match(fields, triage)
        auto, auto_why = self._auto_policy(policy, match, fields)
        suggestion: dict[str, Any] = {
            "summary": drafting.summarize(title, description),
            "category": category,
            "triage_reasons": [str(r) for r in triage.get("reasons", [])],
            "similar": [
                {k: s.get(k, "") for k in ("ticket_id", "title", "resolution", "score", "category")}
                for s in similar[:3]
            ],
            "next_step": drafting.next_step(
                match.runbook.title if match else "", match.runbook.describe(match.params) if match else "",
                similar, category, needs_review,
            ),
            "reply_draft": drafting.reply_draft(
                category, str(fields.get("contact_name", "")), str(fields.get("external_number", ""))
            ),
            "auto_apply": auto_why,
        }
        if match is not None:
            suggestion["runbook"] = {
                "name": match.runbook.name, "title": match.runbook.title, "why": match.why,
                "dry_run": match.runbook.describe(match.params), "threshold": match.runbook.threshold,
                "unattended": match.runbook.unattended,
            }
        now = self.clock()
        cat_conf = float((triage.get("category") or {}).get("confidence", 0.0)) if isinstance(triage.get("category"), Mapping) else 0.0
        proposal = Proposal(
            id=new_id("prp"), tenant=tenant, ticket_id=record.id, technician=technician,
            kind=ProposalKind.RUNBOOK if match else ProposalKind.TRIAGE,
            state=ProposalState.PROPOSED, runbook=match.runbook.name if match else "",
            params=match.params if match else {}, confidence=match.confidence if match else cat_conf,
            auto=auto, suggestion=suggestion, model_version=str(triage.get("model_version", "")),
            basis=f"{triage.get('triaged_at', '')}", created_at=now, updated_at=now,
            expires_at=now + policy.proposal_ttl_s,
        )
        return proposal, match

    def _auto_policy(self, policy: ShadowPolicy, match: RunbookMatch | None, fields: Mapping[str, Any]) -> tuple[bool, str]:
        """Auto-apply only when the tenant allows this runbook, it may run unattended, the
        confidence reaches its threshold, and the requester is not a co-managed client's IT."""
        if match is None:
            return False, "no runbook matches: a technician decides"
        book = match.runbook
        if book.name not in policy.auto_apply:
            return False, f"the tenant's policy does not auto-apply '{book.name}'"
        if not book.unattended:
            return False, f"'{book.name}' always needs a technician's confirmation"
        if match.confidence < book.threshold:
            return False, f"confidence {match.confidence:.2f} is below the runbook's threshold {book.threshold:.2f}"
        if policy.is_co_managed(str(fields.get("company", "")), str(fields.get("contact_email", ""))):
            return False, "the requester is a co-managed client's own IT staff"
        return True, f"auto-applied: allowed by policy, confidence {match.confidence:.2f} ≥ {book.threshold:.2f}"

    async def _auto_apply(self, p: Proposal) -> None:
        if await self.shadow.transition(p, ProposalState.CONFIRMED, actor="shadow-agent:auto",
                                        action="auto_confirmed", detail={"confidence": p.confidence}):
            await self._apply(p, actor="shadow-agent:auto")

    # ---- tokens and technician actions -------------------------------------------------------
    async def _proposal(self, tenant: str, proposal_id: str, technician: str) -> Proposal:
        if not technician:
            raise InvalidArgument("a technician is required (field or x-omega-technician)", reason="MISSING_TECHNICIAN")
        p = await self.shadow.get_proposal(tenant, proposal_id)
        if p is None:
            raise NotFound(f"no proposal {proposal_id!r}", reason="PROPOSAL_NOT_FOUND")
        if p.technician not in (technician, UNASSIGNED):
            raise PermissionDenied("this proposal belongs to another technician", reason="NOT_YOUR_PROPOSAL")
        return p

    async def _expire_if_due(self, p: Proposal) -> None:
        if p.state is ProposalState.PROPOSED and self.clock() >= p.expires_at:
            await self.shadow.transition(p, ProposalState.EXPIRED, actor="shadow-agent", action="expired")
            self._changed(p.tenant)

    async def issue_token(self, tenant: str, proposal_id: str, technician: str) -> tuple[str, float]:
        """A single-use confirmation token bound to this proposal and technician (only its hash is kept)."""
        p = await self._proposal(tenant, proposal_id, technician)
        await self._expire_if_due(p)
        if p.state is not ProposalState.PROPOSED:
            raise FailedPrecondition(f"proposal is {p.state.value}", reason="NOT_PROPOSED")
        token = secrets.token_urlsafe(24)
        expires = self.clock() + self.policies.get(tenant).token_ttl_s
        await self.shadow.add_token(tenant, hash_token(token), p.id, technician, expires)
        return token, expires

    async def confirm(self, tenant: str, proposal_id: str, technician: str, token: str) -> Proposal:
        p = await self._proposal(tenant, proposal_id, technician)
        await self._expire_if_due(p)
        digest = hash_token(token or "")
        row = await self.shadow.get_token(digest)
        if row is None or row["tenant"] != tenant:
            raise PermissionDenied("unknown confirmation token", reason="BAD_TOKEN")
        if row["proposal_id"] != p.id or row["technician"] != technician:
            raise PermissionDenied("the token was issued for another proposal or technician", reason="TOKEN_NOT_YOURS")
        if row["used_at"] is not None:
            raise FailedPrecondition("the confirmation token was already used", reason="TOKEN_USED")
        if self.clock() >= row["expires_at"]:
            raise FailedPrecondition("the confirmation token expired", reason="TOKEN_EXPIRED")
        _require(p, ProposalState.CONFIRMED)
        if not await self.shadow.transition(p, ProposalState.CONFIRMED, actor=technician, action="confirmed",
                                            detail={"kind": p.kind.value, "runbook": p.runbook}, token_sha256=digest):
            raise FailedPrecondition("the proposal or token changed meanwhile", reason="CONFLICT")
        await self._apply(p, actor=technician)
        self._changed(tenant)
        return p

    async def reject(self, tenant: str, proposal_id: str, technician: str, reason: str = "",
                     labels: Mapping[str, str] | None = None) -> Proposal:
        """Reject: the ticket stays as it is (no write-back); the decision becomes a labelled example."""
        p = await self._proposal(tenant, proposal_id, technician)
        await self._expire_if_due(p)
        _require(p, ProposalState.REJECTED)
        if not await self.shadow.transition(p, ProposalState.REJECTED, actor=technician, action="rejected",
                                            detail={"reason": reason[:500], "runbook": p.runbook}):
            raise FailedPrecondition("the proposal changed meanwhile", reason="CONFLICT")
        record = await self.store.tickets.get(tenant, p.ticket_id)
        if record is not None:
            final = {**_labels(record.triage or {}), **{k: v for k, v in (labels or {}).items() if v}}
            await self._example(record, "rejected_proposal", final, extra={"runbook": p.runbook, "reason": reason[:500]})
        self._changed(tenant)
        return p

    async def revert(self, tenant: str, proposal_id: str, technician: str) -> Proposal:
        """Undo an applied proposal: the executor's undo for a runbook, and the PSA ticket written
        back as it was (its original status, or its original category, priority and queue)."""
        p = await self._proposal(tenant, proposal_id, technician)
        _require(p, ProposalState.REVERTED)
        book = self.catalogue(tenant).get(p.runbook) if p.runbook else None
        undo: dict[str, Any] = {}
        if book is not None and p.execution:
            done = await self.executor.undo(tenant, book, {**p.execution, "params": p.params})
            undo = {"id": done.id, "ok": done.ok, "summary": done.summary}
        record = await self.store.tickets.get(tenant, p.ticket_id)
        if record is not None:
            f = record.fields
            if p.kind is ProposalKind.RUNBOOK:
                change = TicketChange(status=str(f.get("status", "")) or "New")
            else:
                change = TicketChange(category=str(f.get("category", "")), priority=str(f.get("priority", "")),
                                      queue=str(f.get("queue", "")), assignee=str(f.get("assignee", "")))
            result = await self._write(record, change, f"{p.id}:revert")
            undo["writeback"] = result.target if result.ok else f"failed: {result.error}"
        ok = await self.shadow.transition(
            p, ProposalState.REVERTED, actor=technician, action="reverted", detail={"undo": undo},
            ticket_state=(TicketState.RESOLVED.value, TicketState.PROPOSED.value),
        )
        if not ok:
            raise FailedPrecondition("the proposal changed meanwhile", reason="CONFLICT")
        self._changed(tenant)
        return p

    async def _apply(self, p: Proposal, *, actor: str) -> None:
        """CONFIRMED → APPLIED | FAILED; an unexpected error fails the proposal, never strands it."""
        try:
            await self._apply_confirmed(p, actor=actor)
        except Exception as exc:  # noqa: BLE001 - recorded on the proposal and in the audit
            log.exception("applying proposal %s failed", p.id)
            if p.state is ProposalState.CONFIRMED:
                await self.shadow.transition(p, ProposalState.FAILED, actor=actor, action="failed",
                                             error=f"{type(exc).__name__}")

    async def _apply_confirmed(self, p: Proposal, *, actor: str) -> None:
        """Run the runbook, write back, record the resolution (or write back the triage)."""
        record = await self.store.tickets.get(p.tenant, p.ticket_id)
        if record is None:
            await self.shadow.transition(p, ProposalState.FAILED, actor=actor, action="failed", error="ticket gone")
            return
        triage = record.triage or {}
        if p.kind is ProposalKind.TRIAGE:
            change = TicketChange(category=_label(triage, "category"), priority=_label(triage, "priority"),
                                  queue=_label(triage, "queue"),
                                  assignee=p.technician if p.technician != UNASSIGNED else "")
            result = await self._write(record, change, f"{p.id}:triage")
            if not result.ok:
                await self.shadow.transition(p, ProposalState.FAILED, actor=actor, action="failed",
                                             error=f"write-back failed: {result.error}")
                return
            await self.shadow.transition(p, ProposalState.APPLIED, actor=actor, action="applied",
                                         detail={"writeback": result.target, "skipped": list(result.skipped)})
            await self._example(record, "confirmed_triage", _labels(triage))
            return
        book = self.catalogue(p.tenant).get(p.runbook)
        if book is None:
            await self.shadow.transition(p, ProposalState.FAILED, actor=actor, action="failed",
                                         error=f"runbook {p.runbook!r} is no longer in the catalogue")
            return
        execution = await self.executor.run(p.tenant, book, p.params)
        exec_doc = {"id": execution.id, "ok": execution.ok, "summary": execution.summary,
                    "executor": execution.executor, "params": p.params}
        if not execution.ok:
            await self.shadow.transition(p, ProposalState.FAILED, actor=actor, action="failed",
                                         execution=exec_doc, error="runbook failed")
            return
        resolution = f"Resolved by runbook '{book.title}': {execution.summary}"
        change = TicketChange(category=_label(triage, "category"), priority=_label(triage, "priority"),
                              queue=_label(triage, "queue"), resolved=True, resolution=resolution)
        result = await self._write(record, change, f"{p.id}:resolve")
        if not result.ok:
            await self.executor.undo(p.tenant, book, exec_doc)  # keep the PSA and the device consistent
            await self.shadow.transition(p, ProposalState.FAILED, actor=actor, action="failed", execution=exec_doc,
                                         error=f"write-back failed, runbook undone: {result.error}")
            return
        await self.shadow.transition(p, ProposalState.APPLIED, actor=actor, action="applied", execution=exec_doc,
                                     detail={"runbook": book.name, "writeback": result.target})
        await self.shadow.resolve_ticket(p.tenant, p.ticket_id, p.technician, resolution, proposal_id=p.id,
                                         auto=actor.endswith(":auto"), actor=actor, model_version=p.model_version)
        await self._example(record, "confirmed_resolution", _labels(triage), extra={"resolution": resolution})
        await self._remember(record, resolution, _labels(triage))

    async def correct(self, tenant: str, ticket_id: str, technician: str, *, category: str = "",
                      priority: str = "", queue: str = "") -> TicketRecord:
        """A technician's correction: stored on the ticket, written back, kept as a labelled example."""
        if not technician:
            raise InvalidArgument("a technician is required", reason="MISSING_TECHNICIAN")
        if not (category or priority or queue):
            raise InvalidArgument("nothing to correct", reason="EMPTY_CORRECTION")
        for _ in range(3):
            record = await self.store.tickets.get(tenant, ticket_id)
            if record is None:
                raise NotFound(f"no ticket {ticket_id!r}", reason="TICKET_NOT_FOUND")
            if record.triage is None:
                raise FailedPrecondition("the ticket has no triage yet", reason="NOT_TRIAGED")
            owner = self.route(record)
            if owner not in (technician, UNASSIGNED):
                raise PermissionDenied("this ticket belongs to another technician", reason="NOT_YOUR_TICKET")
            triage = dict(record.triage)
            before = {name: dict(triage.get(name) or {}) for name in ("category", "priority", "queue")}
            changed: dict[str, str] = {}
            for name, value in (("category", category), ("priority", priority), ("queue", queue)):
                if value and value != _label(triage, name):
                    changed[name] = value
                    triage[name] = {"label": value, "confidence": 1.0, "alternatives": [[value, 1.0]],
                                    "method": "human", "needs_review": False}
            if not changed:
                return record
            triage.setdefault("original", before)
            triage["needs_review"] = False
            triage["corrected_by"] = technician
            record.triage = triage
            if await self.store.tickets.save(record, expected_state=record.state):
                break
        else:
            raise FailedPrecondition("the ticket kept changing; try again", reason="CONFLICT")
        threshold = self.policies.get(tenant).confident_threshold
        confident_wrong = [n for n in changed if float(before[n].get("confidence", 0.0)) >= threshold]
        await self.shadow.audit(
            tenant, ticket_id, technician, "corrected",
            {"changed": changed, "was": {n: before[n].get("label", "") for n in changed},
             "confident_but_wrong": confident_wrong},
            model_version=str(triage.get("model_version", "")),
        )
        await self._write(record, TicketChange(category=changed.get("category", ""),
                                                  priority=changed.get("priority", ""), queue=changed.get("queue", "")), f"{ticket_id}:correct:{_digest(changed)}")
        await self._example(record, "correction", _labels(triage), predicted=before)
        self._changed(tenant)
        return record

    async def resolve(self, tenant: str, ticket_id: str, technician: str, resolution: str) -> str:
        """The technician resolves the ticket: write back, record, learn. Returns the resolution id."""
        if not technician:
            raise InvalidArgument("a technician is required", reason="MISSING_TECHNICIAN")
        if not resolution.strip():
            raise InvalidArgument("a resolution text is required", reason="MISSING_RESOLUTION")
        record = await self.store.tickets.get(tenant, ticket_id)
        if record is None:
            raise NotFound(f"no ticket {ticket_id!r}", reason="TICKET_NOT_FOUND")
        if self.route(record) not in (technician, UNASSIGNED):
            raise PermissionDenied("this ticket belongs to another technician", reason="NOT_YOUR_TICKET")
        if record.state in (TicketState.RESOLVED, TicketState.DELETED):
            raise FailedPrecondition(f"the ticket is {record.state.value}", reason="ALREADY_CLOSED")
        triage = record.triage or {}
        key = f"{ticket_id}:resolve:{_digest({'r': resolution, 'v': record.updated_at})}"
        result = await self._write(record, TicketChange(resolved=True, resolution=resolution), key)
        if not result.ok:
            raise FailedPrecondition(f"write-back to the PSA failed: {result.error}", reason="WRITEBACK_FAILED")
        for p in await self.shadow.proposals(tenant, ticket_id=ticket_id, states=OPEN_PROPOSALS):
            await self.shadow.transition(p, ProposalState.REJECTED, actor=technician, action="superseded_by_resolution")
        rid = await self.shadow.resolve_ticket(tenant, ticket_id, technician, resolution, actor=technician,
                                               model_version=str(triage.get("model_version", "")))
        await self._example(record, "confirmed_resolution", _labels(triage), extra={"resolution": resolution})
        await self._remember(record, resolution, _labels(triage))
        self._changed(tenant)
        return rid

    # ---- write-back, learning, reopen --------------------------------------------------------
    def _writeback(self, tenant: str, source: str) -> TicketWriteBack:
        key = (tenant, source)
        if key not in self._writebacks:
            if self._writeback_factory is not None:
                self._writebacks[key] = self._writeback_factory(tenant, source)
            else:
                self._writebacks[key] = make_writeback(self.policies.get(tenant).writeback.get(source))
        return self._writebacks[key]

    async def _write(self, record: TicketRecord, change: TicketChange, key: str) -> WriteResult:
        """One idempotent write: a key that already succeeded is never written again."""
        adapter = self._writeback(record.tenant, record.source)
        if await self.shadow.writeback_status(key) == "done":
            return WriteResult(True, adapter.name, request={"skipped": "already written"})
        picklists: Mapping[str, Mapping[str, str]] = {}
        try:
            picklists = self.tenants.get(record.tenant).picklists.get(record.source, {})
        except Exception:  # noqa: BLE001 - picklists are optional
            picklists = {}
        result = await adapter.write(record.external_id, change, idempotency_key=key, picklists=picklists)
        await self.shadow.record_writeback(key, record.tenant, record.id, result.target, result.request,
                                           "done" if result.ok else "failed", result.attempts, result.error)
        await self.shadow.audit(record.tenant, record.id, "shadow-agent", "written_back" if result.ok else "writeback_failed",
                                {"target": result.target, "key": key, "status": result.status_code,
                                 "skipped": list(result.skipped)})
        return result

    async def _example(self, record: TicketRecord, kind: str, labels: Mapping[str, str], *,
                       predicted: Mapping[str, Any] | None = None, extra: Mapping[str, Any] | None = None) -> None:
        triage = record.triage or {}
        pred: dict[str, Any] = dict(predicted) if predicted is not None else {n: _label(triage, n) for n in ("category", "priority", "queue")}
        if extra:
            pred["_context"] = dict(extra)
        await self.examples.add_example(record.tenant, record.id, kind, str(record.fields.get("title", "")),
                                      str(record.fields.get("description", "")), labels, pred,
                                      str(triage.get("model_version", "")))

    async def _remember(self, record: TicketRecord, resolution: str, labels: Mapping[str, str]) -> None:
        remember = getattr(self.memory, "remember", None)
        if remember is None:
            return
        text = f"{record.fields.get('title', '')}\n{record.fields.get('description', '')}".strip()
        try:
            await remember(record.tenant, 1, text, resolution=resolution,
                           metadata={k: v for k, v in labels.items() if v}, source_ticket_id=record.id, confirmed=True)
        except Exception:  # noqa: BLE001 - memory is best effort; the example is already stored
            log.exception("could not remember the resolution of %s", record.id)

    async def _note_reopen(self, record: TicketRecord) -> None:
        for res in await self.shadow.resolutions(record.tenant, ticket_id=record.id):
            if res["reopened_at"] is None:
                window = self.policies.get(record.tenant).reopen_window_days * 86400.0
                await self.shadow.mark_reopened(record.tenant, res["id"], record.id, window)

    async def check_reopens(self, tenant: str) -> int:
        """Resolutions whose PSA ticket is open again within the window are marked failed."""
        n = 0
        for res in await self.shadow.resolutions(tenant):
            if res["reopened_at"] is not None:
                continue
            record = await self.store.tickets.get(tenant, res["ticket_id"])
            if record is None:
                continue
            status = str(record.fields.get("status", "")).lower()
            # Back in the pipeline (new text), or the PSA says it is open again. A revert puts the
            # ticket back to PROPOSED and is not a reopen.
            reopened = record.state in REENTERED or (
                bool(status) and not any(w in status for w in CLOSED_STATUS_WORDS) and _reopen_status(status)
                and record.updated_at > res["resolved_at"] + 1
            )
            if reopened:
                window = self.policies.get(tenant).reopen_window_days * 86400.0
                n += await self.shadow.mark_reopened(tenant, res["id"], record.id, window)
        return n

    # ---- reading: queue, suggestions, proposals, scorecard -----------------------------------
    async def my_queue(self, tenant: str, technician: str, *, limit: int = 200) -> list[QueueItem]:
        """The technician's open tickets by priority, then SLA risk (highest first)."""
        now = self.clock()
        proposals: dict[str, Proposal] = {}
        for p in await self.shadow.proposals(tenant, technician=technician, limit=2000):
            proposals.setdefault(p.ticket_id, p)  # newest first
        items: list[QueueItem] = []
        for ticket_id, p in proposals.items():
            record = await self.store.tickets.get(tenant, ticket_id)
            if record is None or record.state in (TicketState.RESOLVED, TicketState.DELETED):
                continue
            if self.route(record) != technician and p.technician != technician:
                continue
            if p.state is ProposalState.PROPOSED and now >= p.expires_at:
                await self._expire_if_due(p)
            priority = _label(record.triage or {}, "priority") or str(record.fields.get("priority", ""))
            due = _due_at(record)
            items.append(QueueItem(record, p, priority, drafting.priority_rank(priority),
                                   round(drafting.sla_risk(priority, record.created_at, now, due), 3)))
        items.sort(key=lambda i: (i.priority_rank, -i.sla_risk, i.ticket.created_at))
        return items[:limit]

    async def suggestions(self, tenant: str, ticket_id: str, technician: str) -> tuple[TicketRecord, Proposal | None]:
        record = await self.store.tickets.get(tenant, ticket_id)
        if record is None:
            raise NotFound(f"no ticket {ticket_id!r}", reason="TICKET_NOT_FOUND")
        proposals = await self.shadow.proposals(tenant, ticket_id=ticket_id, limit=1)
        p = proposals[0] if proposals else None
        if p is not None and technician and p.technician not in (technician, UNASSIGNED):
            raise PermissionDenied("this ticket belongs to another technician", reason="NOT_YOUR_TICKET")
        if p is not None:
            await self._expire_if_due(p)
        return record, p

    async def scorecard(self, tenant: str, *, days: float = 30.0) -> dict[str, Any]:
        """The MSP owner's quality figures over the last ``days``."""
        await self.check_reopens(tenant)
        now = self.clock()
        since = now - days * 86400.0
        proposals = [p for p in await self.shadow.proposals(tenant, limit=100_000) if p.created_at >= since]
        resolutions = [r for r in await self.shadow.resolutions(tenant) if r["resolved_at"] >= since]
        audit = [a for a in await self.shadow.audit_log(tenant, limit=100_000) if a.at >= since]
        corrections = [a for a in audit if a.action == "corrected"]
        ticket_ids = {p.ticket_id for p in proposals}
        auto_resolved = [r for r in resolutions if r["auto"] and r["reopened_at"] is None]
        reopened = [r for r in resolutions if r["reopened_at"] is not None]
        rejected = [p for p in proposals if p.state is ProposalState.REJECTED]
        decided = [p for p in proposals if p.state not in (ProposalState.PROPOSED, ProposalState.EXPIRED)]
        confident_wrong = sum(len(a.detail.get("confident_but_wrong", [])) for a in corrections)
        triage_s: list[float] = []
        proposal_s: list[float] = []
        open_risk: list[float] = []
        for tid in ticket_ids:
            record = await self.store.tickets.get(tenant, tid)
            if record is None or not record.triage:
                continue
            tri_at = float(record.triage.get("triaged_at", 0) or 0)
            if tri_at:
                triage_s.append(max(0.0, tri_at - record.created_at))
                first = min((p.created_at for p in proposals if p.ticket_id == tid), default=tri_at)
                proposal_s.append(max(0.0, first - tri_at))
            if record.state not in (TicketState.RESOLVED, TicketState.DELETED):
                pr = _label(record.triage, "priority") or str(record.fields.get("priority", ""))
                open_risk.append(drafting.sla_risk(pr, record.created_at, now, _due_at(record)))
        daily: dict[str, dict[str, int]] = {}
        for a in audit:
            day = time.strftime("%Y-%m-%d", time.gmtime(a.at))
            bucket = daily.setdefault(day, {"confirmed": 0, "rejected": 0, "auto": 0, "corrected": 0})
            if a.action == "confirmed":
                bucket["confirmed"] += 1
            elif a.action in ("rejected",):
                bucket["rejected"] += 1
            elif a.action == "auto_confirmed":
                bucket["auto"] += 1
            elif a.action == "corrected":
                bucket["corrected"] += 1
        n_tickets = len(ticket_ids)
        return {
            "tenant": tenant,
            "window_days": days,
            "tickets": n_tickets,
            "proposals": len(proposals),
            "auto_resolution_rate": _rate(len(auto_resolved), n_tickets),
            "override_rate": _rate(len(rejected) + len(corrections), len(decided) + len(corrections)),
            "reopen_rate": _rate(len(reopened), len(resolutions)),
            "confident_but_wrong": confident_wrong,
            "corrections": len(corrections),
            "resolutions": len(resolutions),
            "triage_time_p50_s": round(statistics.median(triage_s), 3) if triage_s else 0.0,
            "proposal_time_p50_s": round(statistics.median(proposal_s), 3) if proposal_s else 0.0,
            "sla_at_risk": sum(1 for r in open_risk if r >= 0.75),
            "sla_breached": sum(1 for r in open_risk if r >= 1.0),
            "open_tickets": len(open_risk),
            "daily": [{"day": d, **v} for d, v in sorted(daily.items())],
        }

    async def aclose(self) -> None:
        for adapter in self._writebacks.values():
            await adapter.aclose()
        self._writebacks.clear()


def _require(p: Proposal, to: ProposalState) -> None:
    from teams.shadow.store import TRANSITIONS

    if to not in TRANSITIONS[p.state]:
        raise FailedPrecondition(f"a {p.state.value} proposal cannot become {to.value}", reason="ILLEGAL_TRANSITION")


def _label(triage: Mapping[str, Any], name: str) -> str:
    pred = triage.get(name)
    return str(pred.get("label", "")) if isinstance(pred, Mapping) else ""


def _labels(triage: Mapping[str, Any]) -> dict[str, str]:
    return {n: _label(triage, n) for n in ("category", "priority", "queue", "technician")}


def _digest(value: Mapping[str, Any]) -> str:
    return hashlib.sha256(repr(sorted(value.items())).encode()).hexdigest()[:16]


def _rate(n: int, d: int) -> float:
    return round(n / d, 4) if d else 0.0


def _reopen_status(status: str) -> bool:
    return any(w in status for w in ("reopen", "re-open", "new", "in progress", "open"))


def _due_at(record: TicketRecord) -> float | None:
    extra = record.fields.get("extra")
    due = extra.get("due_at") if isinstance(extra, Mapping) else None
    if not due:
        return None
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(due).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
