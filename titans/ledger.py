"""Monthly spend per tenant: reserve the most a call can cost before it, settle the truth after.

Budgets overshoot under concurrency when spend is only added after calls return; here every call
first reserves its estimated maximum cost (prompt upper bound + max output tokens) inside one
``BEGIN IMMEDIATE`` transaction under an asyncio lock, so concurrent callers, in this process or
another sharing the file, can never commit more than the budget. Rows are kept per call, so cost
per ticket and per tenant are queries. SQLite under the data dir; ``path=None`` keeps it in memory.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from titans.base import Usage
from titans.errors import BudgetExceeded

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS titan_spend (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    month TEXT NOT NULL,
    ticket_id TEXT NOT NULL,
    titan TEXT NOT NULL,
    model TEXT NOT NULL,
    task TEXT NOT NULL,
    state TEXT NOT NULL,
    reserved_usd REAL NOT NULL,
    actual_usd REAL NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS titan_spend_tenant_month ON titan_spend (tenant, month);
CREATE INDEX IF NOT EXISTS titan_spend_ticket ON titan_spend (tenant, ticket_id);
"""
# Open reservations count at their reserved amount; settled ones at what they really cost.
_COMMITTED = (
    "SELECT COALESCE(SUM(CASE state WHEN 'reserved' THEN reserved_usd ELSE actual_usd END), 0)"
    " FROM titan_spend WHERE tenant = ? AND month = ?"
)


@dataclass(frozen=True)
class Reservation:
    """A hold on a tenant's budget for one call."""

    id: str
    tenant: str
    month: str
    amount: float


class BudgetLedger:
    """The asyncio-safe, SQLite-backed spend ledger."""

    def __init__(
        self, path: Path | None, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            ":memory:" if path is None else str(path), isolation_level=None,
            check_same_thread=False, timeout=10.0,
        )
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = asyncio.Lock()
        self._clock = clock or (lambda: datetime.now(UTC))

    def month(self) -> str:
        return self._clock().strftime("%Y-%m")

    async def reserve(
        self, tenant: str, amount: float, budget: float, *,
        ticket_id: str, titan: str, model: str, task: str,
    ) -> Reservation:
        """Hold ``amount`` USD of ``tenant``'s month, or raise BudgetExceeded."""
        month = self.month()
        async with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                (committed,) = self._db.execute(_COMMITTED, (tenant, month)).fetchone()
                if committed + amount > budget:
                    raise BudgetExceeded(
                        "the tenant's monthly Titan budget is used up", tenant=tenant, month=month
                    )
                rid = uuid.uuid4().hex
                self._db.execute(
                    "INSERT INTO titan_spend (id, tenant, month, ticket_id, titan, model, task,"
                    " state, reserved_usd, created_at) VALUES (?,?,?,?,?,?,?,'reserved',?,?)",
                    (rid, tenant, month, ticket_id, titan, model, task, amount,
                     self._clock().isoformat()),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return Reservation(rid, tenant, month, amount)

    async def settle(
        self, reservation: Reservation, actual: float, usage: Usage | None = None, *,
        state: str = "settled",
    ) -> None:
        """Replace the hold by what the call really cost (0 for a call that failed unbilled)."""
        if actual > reservation.amount + 1e-12:
            logger.warning(
                "titan call cost more than reserved: tenant=%s reserved=%.6f actual=%.6f",
                reservation.tenant, reservation.amount, actual,
            )
        usage = usage or Usage()
        async with self._lock:
            self._db.execute(
                "UPDATE titan_spend SET state = ?, actual_usd = ?, input_tokens = ?,"
                " output_tokens = ? WHERE id = ? AND state = 'reserved'",
                (state, actual, usage.input_tokens, usage.output_tokens, reservation.id),
            )

    def committed(self, tenant: str, month: str | None = None) -> float:
        """Settled spend plus open reservations this month: what the budget is checked against."""
        (value,) = self._db.execute(_COMMITTED, (tenant, month or self.month())).fetchone()
        return float(value)

    def spent(self, tenant: str, month: str | None = None) -> float:
        """What ``tenant``'s calls really cost in ``month`` (settled rows only)."""
        (value,) = self._db.execute(
            "SELECT COALESCE(SUM(actual_usd), 0) FROM titan_spend WHERE tenant = ? AND month = ?"
            " AND state != 'reserved'",
            (tenant, month or self.month()),
        ).fetchone()
        return float(value)

    def ticket_cost(self, tenant: str, ticket_id: str) -> float:
        """All Titan spend recorded for one ticket."""
        (value,) = self._db.execute(
            "SELECT COALESCE(SUM(actual_usd), 0) FROM titan_spend WHERE tenant = ? AND ticket_id = ?",
            (tenant, ticket_id),
        ).fetchone()
        return float(value)

    def by_titan(self, tenant: str, month: str | None = None) -> dict[str, float]:
        """Spend per Titan for ``tenant`` in ``month``."""
        rows = self._db.execute(
            "SELECT titan, COALESCE(SUM(actual_usd), 0) FROM titan_spend WHERE tenant = ?"
            " AND month = ? GROUP BY titan",
            (tenant, month or self.month()),
        ).fetchall()
        return {str(name): float(total) for name, total in rows}

    def close(self) -> None:
        self._db.close()
