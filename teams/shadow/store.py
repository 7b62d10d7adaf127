"""The shadow team's tables in the embedded database (schema in backends/sqlite/database.py).

Proposal transitions are compare-and-set on the proposal's state, and the audit record of a
transition is written in the same transaction, so the log never disagrees with the state.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from backends.ids import new_id
from backends.sqlite.database import SqliteDatabase


class ProposalState(StrEnum):
    """PROPOSED → CONFIRMED | REJECTED | EXPIRED; CONFIRMED → APPLIED | FAILED; APPLIED → REVERTED."""

    PROPOSED = "PROPOSED"
    CONFIRMED = "CONFIRMED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    APPLIED = "APPLIED"
    FAILED = "FAILED"
    REVERTED = "REVERTED"


TRANSITIONS: dict[ProposalState, frozenset[ProposalState]] = {
    ProposalState.PROPOSED: frozenset({ProposalState.CONFIRMED, ProposalState.REJECTED, ProposalState.EXPIRED}),
    ProposalState.CONFIRMED: frozenset({ProposalState.APPLIED, ProposalState.FAILED}),
    ProposalState.APPLIED: frozenset({ProposalState.REVERTED}),
    ProposalState.REJECTED: frozenset(),
    ProposalState.EXPIRED: frozenset(),
    ProposalState.FAILED: frozenset(),
    ProposalState.REVERTED: frozenset(),
}


class ProposalKind(StrEnum):
    RUNBOOK = "RUNBOOK"  # run an automation, then resolve the ticket
    TRIAGE = "TRIAGE"  # write the triage (category, priority, queue, assignee) to the PSA


@dataclass
class Proposal:
    id: str
    tenant: str
    ticket_id: str
    technician: str
    kind: ProposalKind
    state: ProposalState
    runbook: str = ""
    params: dict[str, str] = field(default_factory=dict)
    confidence: float = 0.0
    auto: bool = False
    suggestion: dict[str, Any] = field(default_factory=dict)
    model_version: str = ""
    basis: str = ""
    execution: dict[str, Any] | None = None
    error: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    expires_at: float = 0.0


@dataclass(frozen=True)
class AuditEntry:
    id: int
    tenant: str
    ticket_id: str
    proposal_id: str
    actor: str
    action: str
    detail: dict[str, Any]
    model_version: str
    at: float


def _dumps(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def _proposal(r: sqlite3.Row) -> Proposal:
    return Proposal(
        id=r["id"], tenant=r["tenant"], ticket_id=r["ticket_id"], technician=r["technician"],
        kind=ProposalKind(r["kind"]), state=ProposalState(r["state"]), runbook=r["runbook"],
        params=json.loads(r["params"]), confidence=r["confidence"], auto=bool(r["auto"]),
        suggestion=json.loads(r["suggestion"]), model_version=r["model_version"], basis=r["basis"],
        execution=json.loads(r["execution"]) if r["execution"] else None, error=r["error"],
        created_at=r["created_at"], updated_at=r["updated_at"], expires_at=r["expires_at"],
    )


def _audit(
    conn: sqlite3.Connection, tenant: str, ticket_id: str, proposal_id: str, actor: str, action: str,
    detail: Mapping[str, Any] | None, model_version: str,
) -> None:
    conn.execute(
        "INSERT INTO shadow_audit(tenant, ticket_id, proposal_id, actor, action, detail, model_version, at)"
        " VALUES(?,?,?,?,?,?,?,?)",
        (tenant, ticket_id, proposal_id, actor, action, _dumps(dict(detail or {})), model_version, time.time()),
    )


class ShadowStore:
    """Proposals, tokens, audit, examples, write-backs and resolutions over one SqliteDatabase."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    # ---- proposals ---------------------------------------------------------------------------
    async def route_and_propose(self, p: Proposal, from_states: tuple[str, ...], routed_by: str) -> bool:
        """In one transaction: the ticket moves ``from_states`` → ROUTED → PROPOSED (each a
        compare-and-set), the routing and the proposal are audited, and the proposal is stored.

        Returns False (and changes nothing) when the ticket is in none of ``from_states`` or a
        proposal for the same triage (``basis``) exists: a redelivered message is a no-op."""

        def op(conn: sqlite3.Connection) -> bool:
            now = time.time()
            marks = ",".join("?" * len(from_states))
            routed = conn.execute(
                f"UPDATE tickets SET state='ROUTED', updated_at=? WHERE tenant=? AND id=? AND state IN ({marks})",
                (now, p.tenant, p.ticket_id, *from_states),
            ).rowcount
            if not routed:
                return False
            _audit(conn, p.tenant, p.ticket_id, "", "shadow-agent:" + p.technician, "routed",
                   {"technician": p.technician, "by": routed_by}, p.model_version)
            conn.execute(
                "UPDATE tickets SET state='PROPOSED', updated_at=? WHERE tenant=? AND id=? AND state='ROUTED'",
                (now, p.tenant, p.ticket_id),
            )
            inserted = conn.execute(
                "INSERT OR IGNORE INTO shadow_proposals(id, tenant, ticket_id, technician, kind, runbook,"
                " params, state, confidence, auto, suggestion, model_version, basis, execution, error,"
                " created_at, updated_at, expires_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (p.id, p.tenant, p.ticket_id, p.technician, p.kind.value, p.runbook, _dumps(p.params),
                 p.state.value, p.confidence, int(p.auto), _dumps(p.suggestion), p.model_version, p.basis,
                 None, "", p.created_at, p.created_at, p.expires_at),
            ).rowcount
            if not inserted:
                raise _Duplicate()
            # Older open proposals of this ticket are superseded by the new triage.
            conn.execute(
                "UPDATE shadow_proposals SET state='EXPIRED', updated_at=? WHERE tenant=? AND ticket_id=?"
                " AND state='PROPOSED' AND id<>?",
                (now, p.tenant, p.ticket_id, p.id),
            )
            _audit(conn, p.tenant, p.ticket_id, p.id, "shadow-agent:" + p.technician, "proposed",
                   {"kind": p.kind.value, "runbook": p.runbook, "confidence": p.confidence}, p.model_version)
            return True

        try:
            return await self._db.write(op)
        except _Duplicate:
            return False

    async def get_proposal(self, tenant: str, proposal_id: str) -> Proposal | None:
        def op(conn: sqlite3.Connection) -> Proposal | None:
            r = conn.execute("SELECT * FROM shadow_proposals WHERE tenant=? AND id=?", (tenant, proposal_id)).fetchone()
            return _proposal(r) if r else None

        return await self._db.read(op)

    async def proposals(
        self, tenant: str, *, technician: str | None = None, ticket_id: str | None = None,
        states: tuple[ProposalState, ...] = (), limit: int = 200,
    ) -> list[Proposal]:
        def op(conn: sqlite3.Connection) -> list[Proposal]:
            sql = "SELECT * FROM shadow_proposals WHERE tenant=?"
            args: list[Any] = [tenant]
            if technician is not None:
                sql += " AND technician=?"
                args.append(technician)
            if ticket_id is not None:
                sql += " AND ticket_id=?"
                args.append(ticket_id)
            if states:
                sql += f" AND state IN ({','.join('?' * len(states))})"
                args += [s.value for s in states]
            sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
            args.append(limit)
            return [_proposal(r) for r in conn.execute(sql, args).fetchall()]

        return await self._db.read(op)

    async def transition(
        self, p: Proposal, to: ProposalState, *, actor: str, action: str, detail: Mapping[str, Any] | None = None,
        execution: Mapping[str, Any] | None = None, error: str = "", token_sha256: str | None = None,
        ticket_state: tuple[str, str] | None = None,
    ) -> bool:
        """Move ``p`` from its current state to ``to`` (compare-and-set) with its audit record.

        With ``token_sha256`` the token is consumed in the same transaction (single use); with
        ``ticket_state`` = (from, to) the ticket moves too when it is still in ``from``."""

        def op(conn: sqlite3.Connection) -> bool:
            now = time.time()
            if token_sha256 is not None:
                used = conn.execute(
                    "UPDATE shadow_tokens SET used_at=? WHERE token_sha256=? AND used_at IS NULL AND expires_at>?",
                    (now, token_sha256, now),
                ).rowcount
                if not used:
                    return False
            sql = "UPDATE shadow_proposals SET state=?, updated_at=?, error=?"
            args: list[Any] = [to.value, now, error[:2000]]
            if execution is not None:
                sql += ", execution=?"
                args.append(_dumps(dict(execution)))
            sql += " WHERE tenant=? AND id=? AND state=?"
            args += [p.tenant, p.id, p.state.value]
            if not conn.execute(sql, args).rowcount:
                raise _Duplicate()  # roll the token use back too
            if ticket_state is not None:
                conn.execute(
                    "UPDATE tickets SET state=?, updated_at=? WHERE tenant=? AND id=? AND state=?",
                    (ticket_state[1], now, p.tenant, p.ticket_id, ticket_state[0]),
                )
            _audit(conn, p.tenant, p.ticket_id, p.id, actor, action, detail, p.model_version)
            return True

        try:
            ok = await self._db.write(op)
        except _Duplicate:
            return False
        if ok:
            p.state, p.error = to, error
            if execution is not None:
                p.execution = dict(execution)
        return ok

    # ---- tokens ------------------------------------------------------------------------------
    async def add_token(self, tenant: str, token_sha256: str, proposal_id: str, technician: str, expires_at: float) -> None:
        await self._db.write(lambda c: c.execute(
            "INSERT INTO shadow_tokens(token_sha256, tenant, proposal_id, technician, expires_at) VALUES(?,?,?,?,?)",
            (token_sha256, tenant, proposal_id, technician, expires_at),
        ))

    async def get_token(self, token_sha256: str) -> dict[str, Any] | None:
        def op(conn: sqlite3.Connection) -> dict[str, Any] | None:
            r = conn.execute("SELECT * FROM shadow_tokens WHERE token_sha256=?", (token_sha256,)).fetchone()
            return dict(r) if r else None

        return await self._db.read(op)

    # ---- audit -------------------------------------------------------------------------------
    async def audit(
        self, tenant: str, ticket_id: str, actor: str, action: str, detail: Mapping[str, Any] | None = None,
        *, proposal_id: str = "", model_version: str = "",
    ) -> None:
        await self._db.write(lambda c: _audit(c, tenant, ticket_id, proposal_id, actor, action, detail, model_version))

    async def audit_log(self, tenant: str, *, ticket_id: str | None = None, limit: int = 500) -> list[AuditEntry]:
        def op(conn: sqlite3.Connection) -> list[AuditEntry]:
            sql = "SELECT * FROM shadow_audit WHERE tenant=?"
            args: list[Any] = [tenant]
            if ticket_id is not None:
                sql += " AND ticket_id=?"
                args.append(ticket_id)
            sql += " ORDER BY id DESC LIMIT ?"
            args.append(limit)
            return [
                AuditEntry(r["id"], r["tenant"], r["ticket_id"], r["proposal_id"], r["actor"], r["action"],
                           json.loads(r["detail"]), r["model_version"], r["at"])
                for r in conn.execute(sql, args).fetchall()
            ][::-1]

        return await self._db.read(op)

    # ---- learning ----------------------------------------------------------------------------
    async def add_example(self, tenant: str, ticket_id: str, kind: str, title: str, description: str,
                          labels: Mapping[str, str], predicted: Mapping[str, Any], model_version: str) -> None:
        await self._db.write(lambda c: c.execute(
            "INSERT INTO shadow_examples(tenant, ticket_id, kind, title, description, category, priority, queue,"
            " technician, predicted, model_version, created_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
            (tenant, ticket_id, kind, title, description, labels.get("category", ""), labels.get("priority", ""),
             labels.get("queue", ""), labels.get("technician", ""), _dumps(dict(predicted)), model_version, time.time()),
        ))

    async def examples(self, tenant: str, *, after_id: int = 0, limit: int = 100_000) -> list[dict[str, Any]]:
        def op(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = conn.execute(
                "SELECT * FROM shadow_examples WHERE tenant=? AND id>? ORDER BY id LIMIT ?", (tenant, after_id, limit)
            ).fetchall()
            return [{**dict(r), "predicted": json.loads(r["predicted"])} for r in rows]

        return await self._db.read(op)

    # ---- write-backs (idempotency) -----------------------------------------------------------
    async def writeback_status(self, key: str) -> str | None:
        def op(conn: sqlite3.Connection) -> str | None:
            r = conn.execute("SELECT status FROM shadow_writebacks WHERE idempotency_key=?", (key,)).fetchone()
            return str(r["status"]) if r else None

        return await self._db.read(op)

    async def record_writeback(self, key: str, tenant: str, ticket_id: str, target: str,
                               request: Mapping[str, Any], status: str, attempts: int, error: str) -> None:
        now = time.time()
        await self._db.write(lambda c: c.execute(
            "INSERT INTO shadow_writebacks(idempotency_key, tenant, ticket_id, target, request, status, attempts,"
            " error, created_at, updated_at) VALUES(?,?,?,?,?,?,?,?,?,?) ON CONFLICT(idempotency_key) DO UPDATE SET"
            " status=excluded.status, attempts=shadow_writebacks.attempts+excluded.attempts, error=excluded.error,"
            " updated_at=excluded.updated_at",
            (key, tenant, ticket_id, target, _dumps(dict(request)), status, attempts, error, now, now),
        ))

    async def writebacks(self, tenant: str, ticket_id: str) -> list[dict[str, Any]]:
        def op(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = conn.execute(
                "SELECT * FROM shadow_writebacks WHERE tenant=? AND ticket_id=? ORDER BY created_at", (tenant, ticket_id)
            ).fetchall()
            return [{**dict(r), "request": json.loads(r["request"])} for r in rows]

        return await self._db.read(op)

    # ---- resolutions -------------------------------------------------------------------------
    async def resolve_ticket(self, tenant: str, ticket_id: str, technician: str, resolution: str, *,
                             proposal_id: str = "", auto: bool = False, actor: str, model_version: str = "") -> str:
        """Record the resolution, move the ticket to RESOLVED and audit it, in one transaction."""
        rid = new_id("res")

        def op(conn: sqlite3.Connection) -> str:
            now = time.time()
            conn.execute(
                "INSERT INTO shadow_resolutions(id, tenant, ticket_id, technician, proposal_id, resolution, auto,"
                " resolved_at) VALUES(?,?,?,?,?,?,?,?)",
                (rid, tenant, ticket_id, technician, proposal_id, resolution, int(auto), now),
            )
            conn.execute("UPDATE tickets SET state='RESOLVED', updated_at=? WHERE tenant=? AND id=?", (now, tenant, ticket_id))
            _audit(conn, tenant, ticket_id, proposal_id, actor, "resolved", {"auto": auto}, model_version)
            return rid

        return await self._db.write(op)

    async def resolutions(self, tenant: str, *, ticket_id: str | None = None) -> list[dict[str, Any]]:
        def op(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            sql = "SELECT * FROM shadow_resolutions WHERE tenant=?"
            args: list[Any] = [tenant]
            if ticket_id is not None:
                sql += " AND ticket_id=?"
                args.append(ticket_id)
            return [dict(r) for r in conn.execute(sql + " ORDER BY resolved_at", args).fetchall()]

        return await self._db.read(op)

    async def mark_reopened(self, tenant: str, resolution_id: str, ticket_id: str, within_s: float) -> bool:
        """Mark a resolution failed (reopened) if it is still inside the reopen window."""

        def op(conn: sqlite3.Connection) -> bool:
            now = time.time()
            n = conn.execute(
                "UPDATE shadow_resolutions SET reopened_at=? WHERE id=? AND tenant=? AND reopened_at IS NULL"
                " AND resolved_at>?",
                (now, resolution_id, tenant, now - within_s),
            ).rowcount
            if n:
                _audit(conn, tenant, ticket_id, "", "psa", "reopened", {"resolution_id": resolution_id}, "")
            return bool(n)

        return await self._db.write(op)


class _Duplicate(Exception):
    """Raised inside a write to roll its savepoint back (a lost compare-and-set)."""
