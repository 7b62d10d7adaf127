"""The erasure audit log: what was erased, when, by whom; never the personal data itself."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS erasures (
  audit_record_id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  erase_time REAL NOT NULL,
  selector TEXT NOT NULL,
  selector_value TEXT NOT NULL,
  memories_deleted INTEGER NOT NULL,
  sessions_deleted INTEGER NOT NULL,
  requested_by TEXT NOT NULL,
  reason TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class AuditRecord:
    """One erasure; ``selector_value`` is a subject hash, ticket id, memory id or the tenant."""

    audit_record_id: str
    tenant: str
    erase_time: float
    selector: str
    selector_value: str
    memories_deleted: int
    sessions_deleted: int
    requested_by: str
    reason: str


class AuditLog:
    """Append-only SQLite log of erasures (kept outside every tenant shard, so it survives them)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def _append(self, record: AuditRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO erasures VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    record.audit_record_id,
                    record.tenant,
                    record.erase_time,
                    record.selector,
                    record.selector_value,
                    record.memories_deleted,
                    record.sessions_deleted,
                    record.requested_by,
                    record.reason,
                ),
            )
            self._db.commit()

    async def append(self, **fields: object) -> AuditRecord:
        record = AuditRecord(audit_record_id=f"erase_{uuid.uuid4().hex}", **fields)  # type: ignore[arg-type]
        await asyncio.to_thread(self._append, record)
        return record

    def records(self, tenant: str) -> list[AuditRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM erasures WHERE tenant = ? ORDER BY erase_time", (tenant,)
            ).fetchall()
        return [AuditRecord(*row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
