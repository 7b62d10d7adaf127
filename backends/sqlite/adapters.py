"""Embedded adapters of every pipeline port over one SqliteDatabase."""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import time
from collections.abc import Iterator, Sequence
from itertools import chain
from typing import Any

import orjson

from backends.ids import new_id
from backends.records import (
    AcceptResult,
    DeadLetterRecord,
    Message,
    RawPayload,
    TicketEvent,
    TicketRecord,
    TicketState,
    raw_message_body,
)
from backends.sqlite.database import SqliteDatabase
from backends.wakeups import LocalWakeups
from connectors.contract import PayloadIdentity


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _ticket(row: sqlite3.Row) -> TicketRecord:
    return TicketRecord(
        id=row["id"],
        tenant=row["tenant"],
        source=row["source"],
        external_id=row["external_id"],
        state=TicketState(row["state"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=row["version"],
        raw_payload_id=row["raw_payload_id"],
        fields=json.loads(row["fields"]),
        triage=json.loads(row["triage"]) if row["triage"] else None,
        error=row["error"],
        applied_seq=row["applied_seq"],
    )


def _dead_letter(row: sqlite3.Row) -> DeadLetterRecord:
    return DeadLetterRecord(
        id=row["id"],
        tenant=row["tenant"],
        stage=row["stage"],
        reason=row["reason"],
        raw_payload_id=row["raw_payload_id"],
        ticket_id=row["ticket_id"],
        source=row["source"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        replayed=bool(row["replayed"]),
        topic=row["topic"],
        body=json.loads(row["body"]) if row["body"] else None,
    )


def _insert_raw(
    conn: sqlite3.Connection, tenant: str, source: str, raw: bytes, received_via: str
) -> tuple[str, int]:
    raw_id = new_id("raw")
    cur = conn.execute(
        "INSERT INTO raw_payloads(id, tenant, source, received_via, sha256, body, received_at)"
        " VALUES(?,?,?,?,?,?,?)",
        (raw_id, tenant, source, received_via, hashlib.sha256(raw).hexdigest(), raw, time.time()),
    )
    return raw_id, int(cur.lastrowid or 0)


def _publish(conn: sqlite3.Connection, topic: str, key: str, body: dict[str, Any]) -> None:
    now = time.time()
    conn.execute(
        "INSERT INTO messages(topic, key, body, visible_at, created_at) VALUES(?,?,?,?,?)",
        (topic, key, _dumps(body), now, now),
    )


# Rows per multi-row statement: keeps the bound variables under SQLite's old 999 default limit.
_MAX_VARIABLES = 900
_AcceptItem = tuple[str, PayloadIdentity, bytes, str, str]  # tenant, identity, raw, via, topic
_VersionKey = tuple[str, str, str, str]  # tenant, source, external id, version


def _chunks(
    rows: list[tuple[Any, ...]], uses: int = 1
) -> Iterator[tuple[list[tuple[Any, ...]], str]]:
    """``rows`` in chunks whose bound variables (``uses`` times each row) stay under the limit,
    each with its ``(?,..),(?,..)`` placeholders."""
    width = len(rows[0])
    per = max(1, _MAX_VARIABLES // (width * uses))
    one = "(" + ",".join("?" * width) + ")"
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        yield chunk, ",".join([one] * len(chunk))


def _insert_rows(conn: sqlite3.Connection, into: str, rows: list[tuple[Any, ...]]) -> int:
    """``INSERT INTO {into} VALUES (...), (...), ...`` in as few statements as the limit allows;
    returns the rowid of the last row inserted (0 when ``rows`` is empty)."""
    last = 0
    if rows:
        for chunk, placeholders in _chunks(rows):
            cur = conn.execute(
                f"INSERT INTO {into} VALUES {placeholders}", list(chain.from_iterable(chunk))
            )
            last = int(cur.lastrowid or 0)
    return last


def _select_by_values(
    conn: sqlite3.Connection, select: str, keys: list[tuple[str, ...]]
) -> list[sqlite3.Row]:
    """Rows of ``select`` for ``keys``: each ``{values}`` in it becomes ``(VALUES (?,..),..)``
    bound to the keys (chunked under the variable limit)."""
    rows: list[sqlite3.Row] = []
    if keys:
        uses = select.count("{values}")
        for chunk, placeholders in _chunks(keys, uses):
            params = list(chain.from_iterable(chunk))
            sql = select.format(values=f"(VALUES {placeholders})")
            rows += conn.execute(sql, params * uses).fetchall()
    return rows


def _accept_many(conn: sqlite3.Connection, items: list[_AcceptItem]) -> list[AcceptResult]:
    """Accept ``items`` as if one after another: a version seen before (in the store or earlier
    in ``items``) is a duplicate; a new version stores its raw payload, creates the ticket on
    its first version, records the version and queues a message, all in multi-row statements."""
    keys: list[_VersionKey] = [
        (tenant, identity.source.value, identity.external_id, identity.version)
        for tenant, identity, _raw, _via, _topic in items
    ]
    # One statement finds both the versions already accepted and the tickets already known
    # (only hits come back: in a burst of new tickets, none).
    seen: dict[_VersionKey, tuple[str, str]] = {}
    tickets: dict[tuple[str, str, str], str] = {}
    for r in _select_by_values(
        conn,
        "SELECT 'v', t.tenant, t.source, t.external_id, t.version, t.ticket_id, t.raw_payload_id"
        " FROM {values} AS v JOIN ticket_versions AS t ON t.tenant=v.column1"
        " AND t.source=v.column2 AND t.external_id=v.column3 AND t.version=v.column4"
        " UNION ALL SELECT DISTINCT 't', t.tenant, t.source, t.external_id, '', t.id, ''"
        " FROM {values} AS v JOIN tickets AS t ON t.tenant=v.column1 AND t.source=v.column2"
        " AND t.external_id=v.column3",
        list(dict.fromkeys(keys)),
    ):
        if r[0] == "v":
            seen[(r[1], r[2], r[3], r[4])] = (r[5], r[6])
        else:
            tickets[(r[1], r[2], r[3])] = r[5]
    raws: list[tuple[Any, ...]] = []
    new_tickets: list[tuple[Any, ...]] = []
    versions: list[tuple[Any, ...]] = []
    results: list[AcceptResult] = []
    accepted: list[tuple[float, str, str, _AcceptItem]] = []  # (accepted at, ticket, raw, item)
    for key, item in zip(keys, items, strict=True):
        tenant, identity, raw, received_via, _topic = item
        hit = seen.get(key)
        if hit is not None:
            results.append(AcceptResult(hit[0], hit[1], duplicate=True))
            continue
        source = key[1]
        raw_id = new_id("raw")
        now = time.time()  # per item: tickets of one group keep their order of arrival
        raws.append((raw_id, tenant, source, received_via, hashlib.sha256(raw).hexdigest(), raw, now))
        ticket_id = tickets.get(key[:3])
        if ticket_id is None:
            ticket_id = tickets[key[:3]] = new_id("tkt")
            new_tickets.append(
                (ticket_id, tenant, source, identity.external_id, TicketState.RECEIVED.value,
                 identity.version, raw_id, now, now)
            )
        versions.append((*key, ticket_id, raw_id))
        seen[key] = (ticket_id, raw_id)
        accepted.append((now, ticket_id, raw_id, item))
        results.append(AcceptResult(ticket_id, raw_id, duplicate=False))
    last_rowid = _insert_rows(
        conn, "raw_payloads(id, tenant, source, received_via, sha256, body, received_at)", raws
    )
    _insert_rows(
        conn,
        "tickets(id, tenant, source, external_id, state, version, raw_payload_id, created_at,"
        " updated_at)",
        new_tickets,
    )
    _insert_rows(
        conn,
        "ticket_versions(tenant, source, external_id, version, ticket_id, raw_payload_id)",
        versions,
    )
    # The raw payloads got consecutive rowids ending at ``last_rowid`` (one writer; SQLite gives
    # each new row the largest rowid + 1): the rowid orders a ticket's payloads as they arrived.
    first_seq = last_rowid - len(raws) + 1
    messages = [
        (
            topic,
            ticket_id,
            # orjson: the body is our own flat dict of text and numbers (read back as JSON)
            orjson.dumps(raw_message_body(tenant, ticket_id, raw_id, first_seq + n, identity, at)).decode(),
            at,
            at,
        )
        for n, (at, ticket_id, raw_id, (tenant, identity, _raw, _via, topic)) in enumerate(accepted)
    ]
    _insert_rows(conn, "messages(topic, key, body, visible_at, created_at)", messages)
    return results


class SqliteBus:
    """At-least-once queue in the messages table; wakes local workers on publish."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        self.wakeups = LocalWakeups()

    def notify(self) -> None:
        self.wakeups.notify()

    async def wait_for_work(self, timeout_s: float) -> None:
        await self.wakeups.wait(timeout_s)

    async def publish(self, topic: str, key: str, body: dict[str, Any]) -> None:
        await self._db.write(lambda c: _publish(c, topic, key, body))
        self.notify()

    async def lease(self, topics: Sequence[str], limit: int, visibility_s: float) -> list[Message]:
        topics = list(topics)
        lease = secrets.token_hex(8)

        def op(conn: sqlite3.Connection) -> list[Message]:
            now = time.time()
            marks = ",".join("?" * len(topics))
            rows = conn.execute(
                f"UPDATE messages SET lease=?, visible_at=?, attempts=attempts+1 WHERE id IN ("
                f" SELECT id FROM messages WHERE topic IN ({marks}) AND visible_at<=?"
                f" ORDER BY visible_at, id LIMIT ?) RETURNING id, topic, key, body, attempts",
                (lease, now + visibility_s, *topics, now, limit),
            ).fetchall()
            return [
                Message(r["id"], r["topic"], r["key"], json.loads(r["body"]), r["attempts"], lease)
                for r in sorted(rows, key=lambda r: r["id"])
            ]

        return await self._db.write(op)

    async def ack(self, message: Message) -> None:
        await self._db.write(
            lambda c: c.execute(
                "DELETE FROM messages WHERE id=? AND lease=?", (message.id, message.lease)
            )
        )

    async def retry(self, message: Message, delay_s: float, error: str) -> None:
        await self._db.write(
            lambda c: c.execute(
                "UPDATE messages SET visible_at=?, lease=NULL, last_error=? WHERE id=? AND lease=?",
                (time.time() + delay_s, error[:2000], message.id, message.lease),
            )
        )

    async def dead_letter(
        self, message: Message, *, tenant: str, stage: str, reason: str, ticket_id: str, source: str
    ) -> DeadLetterRecord:
        def op(conn: sqlite3.Connection) -> DeadLetterRecord:
            conn.execute(
                "DELETE FROM messages WHERE id=? AND lease=?", (message.id, message.lease)
            )
            return _insert_dead_letter(
                conn,
                tenant=tenant,
                stage=stage,
                reason=reason,
                raw_payload_id=str(message.body.get("raw_payload_id", "")),
                ticket_id=ticket_id,
                source=source,
                attempts=message.attempts,
                topic=message.topic,
                body=message.body,
            )

        return await self._db.write(op)

    async def release_all_leases(self) -> int:
        """Make every leased message visible now (start-up of the sole owner of the store)."""

        def op(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "UPDATE messages SET lease=NULL, visible_at=? WHERE lease IS NOT NULL",
                (time.time(),),
            )
            return cur.rowcount

        return await self._db.write(op)

    async def depth(self) -> dict[str, tuple[int, float]]:
        """Per topic: (messages waiting, age in seconds of the oldest)."""

        def op(conn: sqlite3.Connection) -> dict[str, tuple[int, float]]:
            now = time.time()
            rows = conn.execute(
                "SELECT topic, COUNT(*) AS n, MIN(created_at) AS oldest FROM messages GROUP BY topic"
            ).fetchall()
            return {r["topic"]: (r["n"], now - r["oldest"]) for r in rows}

        return await self._db.read(op)


def _insert_dead_letter(conn: sqlite3.Connection, **kw: Any) -> DeadLetterRecord:
    dl_id = new_id("dl")
    now = time.time()
    body = kw.get("body")
    conn.execute(
        "INSERT INTO dead_letters(id, tenant, stage, reason, raw_payload_id, ticket_id, source,"
        " attempts, topic, body, created_at) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
        (
            dl_id,
            kw["tenant"],
            kw["stage"],
            kw["reason"][:4000],
            kw.get("raw_payload_id", ""),
            kw.get("ticket_id", ""),
            kw.get("source", ""),
            kw.get("attempts", 0),
            kw.get("topic", ""),
            _dumps(body) if body is not None else None,
            now,
        ),
    )
    return DeadLetterRecord(
        id=dl_id,
        tenant=kw["tenant"],
        stage=kw["stage"],
        reason=kw["reason"][:4000],
        raw_payload_id=kw.get("raw_payload_id", ""),
        ticket_id=kw.get("ticket_id", ""),
        source=kw.get("source", ""),
        attempts=kw.get("attempts", 0),
        created_at=now,
        replayed=False,
        topic=kw.get("topic", ""),
        body=body,
    )


class SqliteIngestJournal:
    """Raw payload + ticket + queued work in one transaction; idempotent per version."""

    def __init__(self, db: SqliteDatabase, bus: SqliteBus) -> None:
        self._db = db
        self._bus = bus

    async def accept(
        self, tenant: str, identity: PayloadIdentity, raw: bytes, received_via: str, topic: str
    ) -> AcceptResult:
        # Grouped: the accepts of a burst that share a transaction run as a few multi-row
        # statements (``_accept_many``) instead of ~8 statements each.
        result: AcceptResult = await self._db.write_grouped(
            _accept_many, (tenant, identity, raw, received_via, topic)
        )
        if not result.duplicate:
            self._bus.notify()
        return result

    async def reject(
        self, tenant: str, source: str, raw: bytes, received_via: str, reason: str
    ) -> DeadLetterRecord:
        def op(conn: sqlite3.Connection) -> DeadLetterRecord:
            raw_id, _ = _insert_raw(conn, tenant, source, raw, received_via)
            return _insert_dead_letter(
                conn, tenant=tenant, stage="ingest", reason=reason, raw_payload_id=raw_id,
                source=source,
            )

        return await self._db.write(op)

    async def keep(self, tenant: str, source: str, raw: bytes, received_via: str) -> str:
        """Store a valid payload that needs no processing (kept for audit); returns its id."""
        return await self._db.write(lambda c: _insert_raw(c, tenant, source, raw, received_via)[0])

    async def get_raw(self, raw_payload_id: str) -> RawPayload | None:
        def op(conn: sqlite3.Connection) -> RawPayload | None:
            r = conn.execute(
                "SELECT rowid AS seq, * FROM raw_payloads WHERE id=?", (raw_payload_id,)
            ).fetchone()
            if r is None:
                return None
            return RawPayload(
                r["id"], r["tenant"], r["source"], r["received_via"], bytes(r["body"]),
                r["received_at"], r["sha256"],
            )

        return await self._db.read(op)


class SqliteTicketRepository:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def get(self, tenant: str, ticket_id: str) -> TicketRecord | None:
        def op(conn: sqlite3.Connection) -> TicketRecord | None:
            row = conn.execute(
                "SELECT * FROM tickets WHERE tenant=? AND id=?", (tenant, ticket_id)
            ).fetchone()
            return _ticket(row) if row else None

        return await self._db.read(op)

    async def list(
        self, tenant: str, *, state: TicketState | None, limit: int, before: tuple[float, str] | None
    ) -> list[TicketRecord]:
        def op(conn: sqlite3.Connection) -> list[TicketRecord]:
            sql = "SELECT * FROM tickets WHERE tenant=?"
            args: list[Any] = [tenant]
            if state is not None:
                sql += " AND state=?"
                args.append(state.value)
            if before is not None:
                sql += " AND (created_at < ? OR (created_at = ? AND id < ?))"
                args += [before[0], before[0], before[1]]
            sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
            args.append(limit)
            return [_ticket(r) for r in conn.execute(sql, args).fetchall()]

        return await self._db.read(op)

    async def save(
        self,
        record: TicketRecord,
        *,
        expected_state: TicketState | None = None,
        applied_before: int | None = None,
        only: tuple[str, ...] | None = None,
    ) -> bool:
        """Save the ticket; with a guard, only if it still holds (compare-and-set)."""
        return await self.save_and_publish(
            record, None, None, expected_state=expected_state, applied_before=applied_before,
            only=only,
        )

    async def save_and_publish(
        self,
        record: TicketRecord,
        topic: str | None,
        body: dict[str, Any] | None,
        *,
        expected_state: TicketState | None = None,
        applied_before: int | None = None,
        only: tuple[str, ...] | None = None,
    ) -> bool:
        """Save the ticket and queue the next step atomically (the transactional outbox).

        Guards make a step's effect exactly-once even when two deliveries of one message
        overlap (a lease that expired mid-step): ``expected_state`` is the state the step
        started from, ``applied_before`` the arrival sequence the stored ticket must be below.
        Returns False, saving and queueing nothing, when a guard no longer holds. ``only``
        names the record attributes to write (e.g. ``("triage", "state")``), so a step never
        writes back fields it did not change over a concurrent step's update.
        """
        record.updated_at = time.time()
        values: dict[str, Any] = {
            "state": record.state.value,
            "version": record.version,
            "raw_payload_id": record.raw_payload_id,
            "fields": _dumps(record.fields),
            "triage": _dumps(record.triage) if record.triage is not None else None,
            "error": record.error,
            "applied_seq": record.applied_seq,
        }
        columns = [c for c in values if only is None or c in only]

        def op(conn: sqlite3.Connection) -> bool:
            sets = ", ".join(f"{c}=?" for c in columns)
            sql = f"UPDATE tickets SET {sets}, updated_at=? WHERE tenant=? AND id=?"
            args: list[Any] = [
                *(values[c] for c in columns),
                record.updated_at,
                record.tenant,
                record.id,
            ]
            if expected_state is not None:
                sql += " AND state=?"
                args.append(expected_state.value)
            if applied_before is not None:
                sql += " AND applied_seq<?"
                args.append(applied_before)
            if conn.execute(sql, args).rowcount == 0:
                return False
            if topic is not None and body is not None:
                _publish(conn, topic, record.id, body)
            return True

        return await self._db.write(op)

    async def count_by_state(self, tenant: str | None = None) -> dict[str, int]:
        def op(conn: sqlite3.Connection) -> dict[str, int]:
            if tenant is None:
                rows = conn.execute("SELECT state, COUNT(*) n FROM tickets GROUP BY state")
            else:
                rows = conn.execute(
                    "SELECT state, COUNT(*) n FROM tickets WHERE tenant=? GROUP BY state", (tenant,)
                )
            return {r["state"]: r["n"] for r in rows.fetchall()}

        return await self._db.read(op)


class SqliteDeadLetterStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def list(
        self, tenant: str, *, include_replayed: bool, limit: int, before: tuple[float, str] | None
    ) -> list[DeadLetterRecord]:
        def op(conn: sqlite3.Connection) -> list[DeadLetterRecord]:
            sql = "SELECT * FROM dead_letters WHERE tenant=?"
            args: list[Any] = [tenant]
            if not include_replayed:
                sql += " AND replayed=0"
            if before is not None:
                sql += " AND (created_at < ? OR (created_at = ? AND id < ?))"
                args += [before[0], before[0], before[1]]
            sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
            args.append(limit)
            return [_dead_letter(r) for r in conn.execute(sql, args).fetchall()]

        return await self._db.read(op)

    async def get(self, tenant: str, dead_letter_id: str) -> DeadLetterRecord | None:
        def op(conn: sqlite3.Connection) -> DeadLetterRecord | None:
            r = conn.execute(
                "SELECT * FROM dead_letters WHERE tenant=? AND id=?", (tenant, dead_letter_id)
            ).fetchone()
            return _dead_letter(r) if r else None

        return await self._db.read(op)

    async def mark_replayed(self, dead_letter_id: str) -> None:
        await self._db.write(
            lambda c: c.execute("UPDATE dead_letters SET replayed=1 WHERE id=?", (dead_letter_id,))
        )

    async def requeue(self, record: DeadLetterRecord, reset_state: TicketState) -> None:
        """Put a stage dead letter's message back on its topic, put its ticket back in the
        state that step expects (clearing the error), and mark the dead letter replayed."""

        def op(conn: sqlite3.Connection) -> None:
            assert record.body is not None and record.topic
            conn.execute(
                "UPDATE tickets SET state=?, error='', updated_at=? WHERE tenant=? AND id=?",
                (reset_state.value, time.time(), record.tenant, record.ticket_id),
            )
            _publish(conn, record.topic, record.ticket_id, record.body)
            conn.execute("UPDATE dead_letters SET replayed=1 WHERE id=?", (record.id,))

        await self._db.write(op)


class EmbeddedStore:
    """Every embedded adapter over one database file in the data directory."""

    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db
        self.bus = SqliteBus(db)
        self.journal = SqliteIngestJournal(db, self.bus)
        self.tickets = SqliteTicketRepository(db)
        self.dead_letters = SqliteDeadLetterStore(db)
        self.timeline = SqliteTimeline(db)
        self.features = SqliteFeatureStore(db)

    @classmethod
    def open(cls, path: Any) -> EmbeddedStore:
        db = SqliteDatabase(path)
        db.start()
        return cls(db)

    def close(self) -> None:
        self.db.close()


class SqliteTimeline:
    """Per-ticket step events: what ran, when, how long, with which outcome."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def record(self, tenant: str, event: TicketEvent) -> None:
        await self._db.write(
            lambda c: c.execute(
                "INSERT INTO ticket_events(tenant, ticket_id, step, attempt, started_at,"
                " finished_at, outcome, error, detail) VALUES(?,?,?,?,?,?,?,?,?)",
                (
                    tenant,
                    event.ticket_id,
                    event.step,
                    event.attempt,
                    event.started_at,
                    event.finished_at,
                    event.outcome,
                    event.error[:2000],
                    event.detail[:2000],
                ),
            )
        )

    async def events(self, tenant: str, ticket_id: str) -> list[TicketEvent]:
        def op(conn: sqlite3.Connection) -> list[TicketEvent]:
            rows = conn.execute(
                "SELECT * FROM ticket_events WHERE tenant=? AND ticket_id=? ORDER BY id",
                (tenant, ticket_id),
            ).fetchall()
            return [
                TicketEvent(
                    r["ticket_id"], r["step"], r["attempt"], r["started_at"], r["finished_at"],
                    r["outcome"], r["error"], r["detail"],
                )
                for r in rows
            ]

        return await self._db.read(op)


class SqliteFeatureStore:
    """Each ticket's embedding, computed once when it enters the pipeline, reused after."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def get(self, tenant: str, ticket_id: str, text_sha256: str, model_id: str) -> bytes | None:
        def op(conn: sqlite3.Connection) -> bytes | None:
            r = conn.execute(
                "SELECT vector FROM ticket_features WHERE ticket_id=? AND tenant=?"
                " AND text_sha256=? AND model_id=?",
                (ticket_id, tenant, text_sha256, model_id),
            ).fetchone()
            return bytes(r["vector"]) if r else None

        return await self._db.read(op)

    async def put(
        self, tenant: str, ticket_id: str, text_sha256: str, model_id: str, dim: int, vector: bytes
    ) -> None:
        await self._db.write(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO ticket_features(ticket_id, tenant, text_sha256, model_id,"
                " dim, vector, created_at) VALUES(?,?,?,?,?,?,?)",
                (ticket_id, tenant, text_sha256, model_id, dim, vector, time.time()),
            )
        )
