"""The embedded store's writer: concurrent writes share commits, a lone write never waits the
group-commit window, nor do writes at a steady low rate, and a failing write does not abort its
neighbours (real SQLite file, WAL)."""

from __future__ import annotations

import asyncio
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
