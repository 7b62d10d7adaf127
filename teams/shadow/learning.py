"""Labelled examples for the model trainer (``omega model train``), never trained in the server.

Technicians' corrections and confirmed resolutions are stored in ``shadow_examples``; these
functions read them back as training rows. Retraining is the CLI's job, out of process
(``omega model train --tenant T``, ``teams.shadow.retrain``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

# Rejections say "not this runbook", not what the labels are, unless a technician gave labels.
TRAINING_KINDS = ("correction", "confirmed_resolution", "confirmed_triage", "rejected_proposal")


def is_labelled(example: dict[str, Any]) -> bool:
    """Whether an example carries training labels (rejections only when a technician gave some)."""
    return example["kind"] in TRAINING_KINDS and bool(example["category"])


def example_store(store: Any) -> Any:
    """Where the tenant's labelled examples live: the store's own ``examples`` port when it has
    one (Cosmos DB in production, durable across pods), else the shadow team's tables in the
    store's SQLite database (``ShadowStore``: the embedded mesh)."""
    examples = getattr(store, "examples", None)
    if examples is not None:
        return examples
    from teams.shadow.store import ShadowStore

    return ShadowStore(store.db)


def read_examples(db_path: Path, tenant: str, *, after_id: int = 0) -> list[dict[str, Any]]:
    """Every labelled example of ``tenant`` in the store at ``db_path`` (read-only), oldest first."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute(
            "SELECT id, ticket_id, kind, title, description, category, priority, queue, technician,"
            " model_version, created_at FROM shadow_examples WHERE tenant=? AND id>? ORDER BY id",
            (tenant, after_id),
        ).fetchall()
    except sqlite3.OperationalError:
        return []  # a store from before the shadow team: no examples yet
    finally:
        conn.close()
    return [dict(r) for r in rows]


def rows_from_examples(examples: list[dict[str, Any]]) -> list[Any]:
    """Examples (``read_examples`` / ``ShadowStore.examples`` rows) as ``LabelledTicket`` rows:
    the latest labelled example per ticket wins (a technician's correction after a confirmation
    replaces it), kinds that carry no labels are skipped."""
    from titans.local.model import LabelledTicket  # the local Titan; imported only when training

    latest: dict[str, dict[str, Any]] = {}
    for ex in examples:
        if is_labelled(ex):
            latest[ex["ticket_id"]] = ex
    return [
        LabelledTicket(
            title=ex["title"], description=ex["description"], category=ex["category"],
            priority=ex["priority"], queue=ex["queue"], technician=ex["technician"], ticket_id=ex["ticket_id"],
        )
        for ex in latest.values()
    ]


def training_rows(db_path: Path, tenant: str) -> list[Any]:
    """The examples as ``titans.local.model.LabelledTicket`` rows, latest label per ticket wins,
    ready for ``LocalTriage.train(tenant, rows)``."""
    return rows_from_examples(read_examples(db_path, tenant))
