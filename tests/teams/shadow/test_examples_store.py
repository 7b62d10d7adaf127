"""The technicians' labelled examples, on the embedded store (SQLite) and on the production
store (Cosmos DB emulator + Azurite + Redis): written once, read back oldest first after a
cursor, one tenant never sees another's; the shadow team writes them where retraining reads."""

from __future__ import annotations

from typing import Any

from teams.shadow.learning import example_store, rows_from_examples
from tests.backends.conftest import store  # noqa: F401 - the parametrised store fixture


async def test_examples_are_kept_in_order_per_tenant_and_read_after_a_cursor(store: Any) -> None:  # noqa: F811
    examples = example_store(store)
    if getattr(store, "kind", "") == "composite":
        assert examples is store.examples  # Cosmos: durable, not the pod's SQLite file
    labels = [
        ("T-1", "correction", "Network"),
        ("T-2", "confirmed_triage", "Printing"),
        ("T-1", "correction", "Email"),
        ("T-3", "rejected_proposal", ""),
    ]
    for ticket, kind, category in labels:
        await examples.add_example(
            "acme",
            ticket,
            kind,
            f"title {ticket}",
            "desc",
            {"category": category, "priority": "P2"},
            {"category": "x"},
            "v1",
        )
    await examples.add_example(
        "globex", "G-1", "correction", "secret", "", {"category": "Secret"}, {}, "v1"
    )
    rows = await examples.examples("acme")
    assert [(r["ticket_id"], r["kind"], r["category"]) for r in rows] == labels
    assert all(r["tenant"] == "acme" and r["model_version"] == "v1" for r in rows)
    assert rows[0]["predicted"] == {"category": "x"} and rows[0]["priority"] == "P2"
    ids = [int(r["id"]) for r in rows]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    after = await examples.examples("acme", after_id=ids[1])
    assert [r["ticket_id"] for r in after] == ["T-1", "T-3"]
    assert [r["ticket_id"] for r in await examples.examples("acme", limit=2)] == ["T-1", "T-2"]
    # Training rows: the latest label per ticket, unlabelled rejections skipped.
    trained = rows_from_examples(rows)
    assert sorted((t.ticket_id, t.category) for t in trained) == [
        ("T-1", "Email"),
        ("T-2", "Printing"),
    ]
    assert [r["category"] for r in await examples.examples("globex")] == ["Secret"]
