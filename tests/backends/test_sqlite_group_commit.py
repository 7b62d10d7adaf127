"""The embedded store's writer: concurrent writes share commits, a lone write never waits the
group-commit window, nor do writes at a steady low rate, and a failing write does not abort its
neighbours (real SQLite file, WAL)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from backends.sqlite.database import SqliteDatabase


@pytest.fixture
async def make_db(tmp_path: Path) -> AsyncIterator[Callable[..., SqliteDatabase]]:
    made: list[SqliteDatabase] = []

    def make(window_s: float, min_rate: float = 0.0) -> SqliteDatabase:
        db = SqliteDatabase(
            tmp_path / f"db{len(made)}.sqlite", commit_window_s=window_s, commit_window_min_rate=min_rate
        )
        db.start()
        made.append(db)
        return db

    yield make
    for db in made:
        db.close()


def _insert(i: int) -> Callable[[sqlite3.Connection], int]:
    def op(conn: sqlite3.Connection) -> int:
        conn.execute(
            "INSERT INTO messages(topic, key, body, visible_at, created_at) VALUES('t', ?, '{}', 0, 0)",
            (str(i),),
        )
        return i

    return op


async def _count(db: SqliteDatabase) -> int:
    return int(await db.read(lambda c: c.execute("SELECT COUNT(*) FROM messages").fetchone()[0]))


async def test_a_lone_write_does_not_wait_for_the_window(make_db: Callable[..., SqliteDatabase]) -> None:
    db = make_db(0.5)  # a window no lone write may pay
    started = time.monotonic()
    for i in range(3):  # one after the other: each transaction holds one write
        assert await db.write(_insert(i)) == i
    assert time.monotonic() - started < 0.5
    assert db.batches == 3 and await _count(db) == 3


async def test_concurrent_writers_arriving_apart_share_one_commit(
    make_db: Callable[..., SqliteDatabase],
) -> None:
    """After a transaction of 8 writes, the writer waits (up to the window) for 8 again: writes
    that arrive a few milliseconds apart are committed together instead of one fsync each."""
    db = make_db(0.5)
    assert await asyncio.gather(*(db.write(_insert(i)) for i in range(8))) == list(range(8))
    first_batches = db.batches  # the first 8 arrive together: one or two transactions
    assert first_batches <= 2

    results = await asyncio.gather(*(_later(db, 100 + i, 0.01 * i) for i in range(8)))
    assert results == [100 + i for i in range(8)]
    assert db.batches - first_batches <= 2  # not 8: they waited for each other
    assert await _count(db) == 16


async def _first_of_spaced_writes_s(db: SqliteDatabase) -> tuple[float, int]:
    """After 8 concurrent writes, three more 150 ms apart: how long the first of them took and
    how many transactions the three needed."""
    await asyncio.gather(*(db.write(_insert(i)) for i in range(8)))
    before = db.batches
    started = time.monotonic()
    first = asyncio.ensure_future(db.write(_insert(300)))
    rest = asyncio.gather(*(_later(db, 301 + i, 0.15 * (i + 1)) for i in range(2)))
    await first
    first_s = time.monotonic() - started
    await rest
    return first_s, db.batches - before


async def test_writes_at_a_steady_low_rate_never_wait(make_db: Callable[..., SqliteDatabase]) -> None:
    """Below the burst rate (800 writes/s by default; 50 tickets/s is ~300) the window is off:
    each pipeline step writes after its previous write committed, so waiting only adds latency.
    With the window on for any rate, the first of three writes 150 ms apart waits for the
    others (the previous transaction held 8); below the rate it commits at once."""
    gated = make_db(0.5, 800.0)
    first_s, batches = await _first_of_spaced_writes_s(gated)
    assert first_s < 0.25 and batches == 3  # committed at once, each on its own
    assert gated.write_rate < 800

    always = make_db(0.5, 0.0)
    first_s, batches = await _first_of_spaced_writes_s(always)
    assert first_s >= 0.25 and batches <= 2  # it waited for the writes behind it


async def _later(db: SqliteDatabase, i: int, delay_s: float) -> int:
    await asyncio.sleep(delay_s)
    return await db.write(_insert(i))


async def test_a_failing_write_rolls_back_alone(make_db: Callable[..., SqliteDatabase]) -> None:
    db = make_db(0.05)

    def bad(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO messages(topic, key, body, visible_at, created_at) VALUES('t', 'x', '{}', 0, 0)"
        )
        raise ValueError("refused")

    outcomes = await asyncio.gather(
        db.write(_insert(1)), db.write(bad), db.write(_insert(2)), return_exceptions=True
    )
    assert outcomes[0] == 1 and isinstance(outcomes[1], ValueError) and outcomes[2] == 2
    assert await _count(db) == 2  # the failing write's own row is gone, its neighbours stayed


def _grouped_insert(calls: list[int]) -> Callable[[sqlite3.Connection, list[int]], list[int]]:
    """A grouped write: inserts one row per item in one statement; a negative item fails."""

    def run(conn: sqlite3.Connection, items: list[int]) -> list[int]:
        calls.append(len(items))
        conn.execute(
            "INSERT INTO messages(topic, key, body, visible_at, created_at) VALUES "
            + ",".join("('g', ?, '{}', 0, 0)" for _ in items),
            [str(i) for i in items],
        )
        if any(i < 0 for i in items):
            raise ValueError("negative item")
        return [i * 10 for i in items]

    return run


async def test_grouped_writes_of_one_transaction_run_as_one_call(
    make_db: Callable[..., SqliteDatabase],
) -> None:
    db = make_db(0.05)  # a window long enough for all twenty to share a transaction
    calls: list[int] = []
    run = _grouped_insert(calls)
    results = await asyncio.gather(*(db.write_grouped(run, i) for i in range(20)))
    assert results == [i * 10 for i in range(20)]  # one result per caller, in order
    assert sum(calls) == 20 and len(calls) < 20 and max(calls) > 1
    assert await _count(db) == 20


async def test_a_failing_item_of_a_group_fails_alone(make_db: Callable[..., SqliteDatabase]) -> None:
    db = make_db(0.05)
    calls: list[int] = []
    run = _grouped_insert(calls)
    outcomes = await asyncio.gather(
        db.write_grouped(run, 1), db.write_grouped(run, -1), db.write_grouped(run, 2),
        db.write(_insert(3)), return_exceptions=True,
    )
    assert outcomes[0] == 10 and isinstance(outcomes[1], ValueError) and outcomes[2] == 20
    assert outcomes[3] == 3
    # The group's call failed (and was undone), so its items ran one by one, each under its own
    # savepoint; only the failing one's row is gone.
    assert max(calls) > 1 and calls[calls.index(max(calls)) + 1 :].count(1) >= 2
    keys = await db.read(lambda c: sorted(r[0] for r in c.execute("SELECT key FROM messages")))
    assert keys == ["1", "2", "3"]


async def test_accepts_that_share_a_transaction_keep_one_ticket_per_version(tmp_path: Path) -> None:
    """Grouped ingest accepts (backends.sqlite.adapters._accept_many): the same version twice
    in one group is one ticket and a duplicate; two versions of a new ticket in one group are one
    ticket with two versions whose messages carry increasing ``seq``; a known ticket's new
    version joins it."""
    from backends.sqlite.adapters import SqliteBus, SqliteIngestJournal
    from connectors.contract import Event, PayloadIdentity, Source

    db = SqliteDatabase(tmp_path / "j.sqlite", commit_window_s=0.05, commit_window_min_rate=0.0)
    db.start()
    try:
        journal = SqliteIngestJournal(db, SqliteBus(db))

        def ident(ext: str, version: str) -> PayloadIdentity:
            return PayloadIdentity(Source.GENERIC, ext, version, Event.CREATED)

        known = await journal.accept("acme", ident("K", "1"), b"k1", "grpc", "ticket.raw")
        calls = [
            ("acme", ident("A", "1"), b"a1"), ("acme", ident("A", "1"), b"a1-again"),
            ("acme", ident("B", "1"), b"b1"), ("acme", ident("B", "2"), b"b2"),
            ("acme", ident("K", "2"), b"k2"), ("acme", ident("K", "1"), b"k1-again"),
            ("other", ident("A", "1"), b"a1-other-tenant"),
        ]
        before = db.batches
        r = await asyncio.gather(
            *(journal.accept(t, i, raw, "grpc", "ticket.raw") for t, i, raw in calls)
        )
        assert db.batches - before < len(calls)  # they did share transactions
        assert [x.duplicate for x in r] == [False, True, False, False, False, True, False]
        assert r[1].ticket_id == r[0].ticket_id and r[1].raw_payload_id == r[0].raw_payload_id
        assert r[3].ticket_id == r[2].ticket_id and r[3].raw_payload_id != r[2].raw_payload_id
        assert r[4].ticket_id == known.ticket_id and r[5].ticket_id == known.ticket_id
        assert r[5].raw_payload_id == known.raw_payload_id
        assert r[6].ticket_id != r[0].ticket_id  # another tenant's ticket A is another ticket

        def read(c: sqlite3.Connection) -> tuple[int, int, list[tuple[str, int]]]:
            tickets = c.execute("SELECT COUNT(*) FROM tickets").fetchone()[0]
            raws = c.execute("SELECT COUNT(*) FROM raw_payloads").fetchone()[0]
            bodies = [json.loads(row[0]) for row in c.execute("SELECT body FROM messages ORDER BY id")]
            return tickets, raws, [(b["raw_payload_id"], b["seq"]) for b in bodies]

        tickets, raws, messages = await db.read(read)
        assert tickets == 4 and raws == 6  # K, A, B, A@other; payloads k1, a1, b1, b2, k2, a1@other
        seqs = await db.read(
            lambda c: dict(c.execute("SELECT id, rowid FROM raw_payloads").fetchall())
        )
        assert all(seqs[raw_id] == seq for raw_id, seq in messages)  # seq is the payload's rowid
        by_raw = dict(messages)
        assert by_raw[r[2].raw_payload_id] < by_raw[r[3].raw_payload_id]  # B's versions in order
    finally:
        db.close()
