"""`omega model train --tenant T`: retraining from the technicians' labels in the mesh's real
embedded store (SQLite), reusing the vectors the pipeline stored, promotion only on improvement,
the promotion log, `model versions` and `model promote` (roll-back)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backends.cosmos.documents import CosmosDocuments
from backends.factory import open_store
from backends.settings import BackendSettings
from backends.sqlite.adapters import EmbeddedStore
from teams.shadow.learning import example_store
from teams.shadow.retrain import NothingToTrainError, feature_digest, retrain_tenant
from tests.backends.conftest import (
    COSMOS,
    COSMOS_ENDPOINT,
    COSMOS_KEY,
    REDIS,
    drop_cosmos,
    require,
    unique,
)
from tests.conftest import make_settings
from tests.titans.local.conftest import synthetic_tickets
from titans.local.cli import add_model_commands
from titans.local.model import LabelledTicket
from titans.local.service import LocalTriage
from titans.local.store import ModelStore

DIM = 16


class HashingEmbedder:
    """A small deterministic embedder (hashed bag of words, unit length) that counts the texts
    it embeds: the retrain must embed only what the feature store does not hold."""

    model_id = "test-hashing-16"
    dim = DIM

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def embed(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        self.embedded.extend(texts)
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.split():
                out[i, hashlib.sha256(word.encode()).digest()[0] % DIM] += 1.0
            out[i] /= max(float(np.linalg.norm(out[i])), 1e-6)
        return out


def _fill(
    db: Path | Callable[[], Any],
    tenant: str,
    rows: Sequence[LabelledTicket],
    *,
    store_vectors: bool,
    kind: str = "confirmed_triage",
) -> None:
    """Labelled examples (as the shadow team records them) and, optionally, each ticket's vector
    in the feature store (as the triage step stores it). ``db``: the embedded store's file, or a
    function that opens another store."""

    async def go() -> None:
        store = EmbeddedStore.open(db) if isinstance(db, Path) else db()
        try:
            if hasattr(store, "docs"):
                await store.docs.ensure_containers()
            shadow = example_store(store)  # Cosmos for the composite store, else SQLite
            for r in rows:
                labels = {"category": r.category, "priority": r.priority}
                await shadow.add_example(
                    tenant, r.ticket_id, kind, r.title, r.description, labels, {}, "v0"
                )
                if store_vectors:
                    assert r.embedding is not None
                    await store.features.put(
                        tenant,
                        r.ticket_id,
                        feature_digest(r),
                        HashingEmbedder.model_id,
                        DIM,
                        np.asarray(r.embedding, dtype=np.float32).tobytes(),
                    )
        finally:
            if hasattr(store, "aclose"):
                await store.aclose()
            else:
                store.close()

    asyncio.run(go())


def _retrain(
    db: Path,
    models: Path,
    tenant: str,
    embedder: HashingEmbedder | None,
    history: Sequence[LabelledTicket] = (),
):  # type: ignore[no-untyped-def]
    return retrain_tenant(
        lambda: EmbeddedStore.open(db), models, tenant, history=history, embedder=embedder
    )


def test_retrain_trains_on_the_technicians_labels_with_the_stored_vectors(tmp_path: Path) -> None:
    db, models = tmp_path / "omega.db", tmp_path / "models"
    rows = synthetic_tickets(400, seed=11, embed=True)
    _fill(db, "acme", rows, store_vectors=True)
    # Another tenant's tickets, with a label acme never uses: they must not reach acme's model.
    _fill(db, "globex", synthetic_tickets(60, seed=12, embed=True)[:60], store_vectors=True)
    _fill(
        db,
        "globex",
        [LabelledTicket("secret merger", "board pack", "Secret", ticket_id="G-1")],
        store_vectors=False,
        kind="correction",
    )
    # A technician corrects one acme ticket after it was confirmed: the correction is the label.
    first = rows[0]
    corrected = "Network" if first.category != "Network" else "Email"
    _fill(
        db,
        "acme",
        [LabelledTicket(first.title, first.description, corrected, ticket_id=first.ticket_id)],
        store_vectors=False,
        kind="correction",
    )

    embedder = HashingEmbedder()
    report = _retrain(db, models, "acme", embedder)
    result = report.result
    assert report.examples == 400 and report.history_rows == 0
    # Every vector came from the feature store: nothing was embedded again.
    assert (report.stored_embeddings, report.computed_embeddings, embedder.embedded) == (400, 0, [])
    assert result.promoted and result.reason == "no current model"
    assert result.n_train + result.n_holdout == 400 and result.n_holdout >= 50

    store = ModelStore(models)
    assert store.current_version("acme") == result.version
    model = store.load("acme")
    assert model.uses_embeddings and model.heads["category"].classes == sorted(
        {"Email", "Hardware", "Network", "Printer", "Access"}
    )
    assert "Secret" not in model.heads["category"].classes  # globex's labels stayed with globex
    assert store.versions("globex") == []
    [log] = store.promotions("acme")
    assert (log["version"], log["previous"], log["by"]) == (
        result.version,
        None,
        "omega model train",
    )

    # The serving side picks up the promoted version and names it in every result.
    served = LocalTriage(models, embedder=embedder)  # type: ignore[arg-type]
    decision = served.triage("acme", title="printer toner jam", description="paper tray spooler")
    assert decision.model_version == result.version

    # The same labels again: the candidate is no better on the same hold-out, so it is stored
    # but not promoted, and the log does not change.
    again = _retrain(db, models, "acme", embedder).result
    assert not again.promoted and "hold-out accuracy" in again.reason
    assert (
        again.incumbent is not None and again.candidate["accuracy"] <= again.incumbent["accuracy"]
    )
    assert store.current_version("acme") == result.version
    assert again.version in store.versions("acme") and len(store.promotions("acme")) == 1
    assert served.triage("acme", title="vpn down", description="").model_version == result.version


def test_only_tickets_without_a_stored_vector_are_embedded(tmp_path: Path) -> None:
    db, models = tmp_path / "omega.db", tmp_path / "models"
    rows = synthetic_tickets(120, seed=21, embed=True)
    _fill(db, "acme", rows[:100], store_vectors=True)
    _fill(db, "acme", rows[100:], store_vectors=False)  # labelled, never embedded by the pipeline
    # One ticket's text changed after it was embedded: its stored vector no longer applies.
    changed = rows[5]
    _fill(
        db,
        "acme",
        [
            LabelledTicket(
                changed.title,
                changed.description + " monitor flicker",
                changed.category,
                ticket_id=changed.ticket_id,
            )
        ],
        store_vectors=False,
        kind="correction",
    )
    history = [
        LabelledTicket(r.title, r.description, r.category, ticket_id=f"H-{i}")
        for i, r in enumerate(synthetic_tickets(30, seed=22))
    ]
    embedder = HashingEmbedder()
    report = _retrain(db, models, "acme", embedder, history)
    assert (report.examples, report.history_rows) == (120, 30)
    assert (report.stored_embeddings, report.computed_embeddings) == (99, 51)
    assert len(embedder.embedded) == 51
    assert changed.description + " monitor flicker" in " ".join(embedder.embedded)


def test_a_scheduled_retrain_waits_for_enough_new_labels(tmp_path: Path) -> None:
    """`--min-new N` (for cron): train only when N labelled tickets arrived since the last
    training; otherwise nothing is embedded, trained or stored."""
    db, models = tmp_path / "omega.db", tmp_path / "models"
    rows = synthetic_tickets(360, seed=51, embed=True)
    _fill(db, "acme", rows[:300], store_vectors=True)
    embedder = HashingEmbedder()

    def retrain() -> Any:
        return retrain_tenant(
            lambda: EmbeddedStore.open(db), models, "acme", embedder=embedder, min_new=50
        )

    first = retrain()
    assert first.result is not None and first.result.promoted and first.new_examples == 300
    store = ModelStore(models)
    assert store.meta("acme", first.result.version)["examples_through"] == 300

    idle = retrain()
    assert idle.result is None and idle.new_examples == 0
    assert idle.skipped == "0 new labelled ticket(s) since the last training (at least 50 wanted)"
    assert idle.as_dict()["skipped"] is True and store.versions("acme") == [first.result.version]

    _fill(db, "acme", rows[300:330], store_vectors=True, kind="correction")
    assert retrain().new_examples == 30 and store.versions("acme") == [first.result.version]
    _fill(db, "acme", rows[330:], store_vectors=True, kind="correction")
    later = retrain()
    assert later.result is not None and later.new_examples == 60
    assert store.meta("acme", later.result.version)["examples_through"] == 360
    assert embedder.embedded == []  # every vector came from the feature store


def test_a_tenant_without_labels_is_refused_clearly(tmp_path: Path) -> None:
    db = tmp_path / "omega.db"
    _fill(db, "acme", synthetic_tickets(20, seed=3, embed=True), store_vectors=True)
    with pytest.raises(NothingToTrainError, match="'initech' has 0 labelled ticket"):
        _retrain(db, tmp_path / "models", "initech", HashingEmbedder())
    one_category = [r for r in synthetic_tickets(200, seed=4) if r.category == "Email"]
    _fill(db, "hooli", one_category, store_vectors=False)
    with pytest.raises(NothingToTrainError, match=r"has \d+ labelled ticket\(s\) in 1 category"):
        _retrain(db, tmp_path / "models", "hooli", None)
    assert not (tmp_path / "models" / "hooli").exists()


def test_retrain_reads_labels_and_vectors_from_the_cloud_store(tmp_path: Path) -> None:
    """The same retrain over the production store (`OMEGA_DOCUMENTS=cosmos`): labels and vectors
    from Cosmos DB (the @vercel/cosmosdb-server emulator: examples and features beside the
    tickets, so they outlive any pod), the bus on a real Redis."""
    for addr, what in ((REDIS, "redis"), (COSMOS, "cosmosdb-server")):
        require(addr, what)
    backends = BackendSettings(
        bus="redis",
        documents="cosmos",
        blobs="local",
        cosmos_endpoint=COSMOS_ENDPOINT,
        cosmos_key=COSMOS_KEY,
        cosmos_database=unique("omegatest"),
        redis_prefix=unique("omega-test-"),
    )
    settings = make_settings(tmp_path)

    def opener() -> Any:
        return open_store(settings, backends)

    rows = synthetic_tickets(150, seed=41, embed=True)
    _fill(opener, "acme", rows, store_vectors=True)
    # Ten tickets were edited after the pipeline embedded them: their stored vectors are stale.
    # (Every ticket has a feature document here: the emulator answers 500, not 404, for a
    # missing one; the missing case is covered on SQLite above.)
    edited = [
        LabelledTicket(r.title, r.description + " again", r.category, ticket_id=r.ticket_id)
        for r in rows[140:]
    ]
    _fill(opener, "acme", edited, store_vectors=False, kind="correction")
    try:
        embedder = HashingEmbedder()
        report = retrain_tenant(opener, tmp_path / "models", "acme", embedder=embedder)
        assert (report.examples, report.stored_embeddings, report.computed_embeddings) == (
            150,
            140,
            10,
        )
        assert len(embedder.embedded) == 10
        assert (
            report.result.promoted and ModelStore(tmp_path / "models").load("acme").uses_embeddings
        )
    finally:

        async def drop() -> None:
            docs = CosmosDocuments.connect(COSMOS_ENDPOINT, COSMOS_KEY, backends.cosmos_database)
            await drop_cosmos(docs)

        asyncio.run(drop())


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="omega")
    add_model_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_cli_retrains_lists_versions_and_rolls_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`omega model train --tenant` against a data folder laid out as `omega up` leaves it
    (sparse models here: the MiniLM path is covered above and by the mesh tests)."""
    monkeypatch.setenv("OMEGA_DOCUMENTS", "sqlite")
    monkeypatch.setenv("OMEGA_BUS", "sqlite")
    data = tmp_path / "data"
    data.mkdir()
    _fill(data / "omega.db", "acme", synthetic_tickets(300, seed=31), store_vectors=False)
    # The tenant's own precision target, from the tenants file `omega up` reads.
    (data / "tenants.toml").write_text("[tenants.acme]\ntarget_precision = 0.9\n", encoding="utf-8")
    base = ["--tenant", "acme", "--data-dir", str(data), "--no-embeddings"]

    assert _run(["model", "train", *base]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["promoted"] and first["examples"] == 300 and first["computed_embeddings"] == 0
    assert ModelStore(data / "models").meta("acme", first["version"])["target_precision"] == 0.9
    assert _run(["model", "train", *base, "--min-new", "10"]) == 0  # nothing new since
    idle = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert idle["skipped"] and not idle["promoted"] and idle["new_examples"] == 0

    # A history export with more tickets: trained on, compared on the same hold-out.
    csv_path = tmp_path / "history.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Subject", "Body", "Category", "Id"])
        for r in synthetic_tickets(300, seed=32):
            w.writerow([r.title, r.description, r.category, f"PSA-{r.ticket_id}"])
    assert (
        _run(
            [
                "model",
                "train",
                *base,
                "--data",
                str(csv_path),
                "--text-col",
                "Subject",
                "--text-col",
                "Body",
                "--label-col",
                "Category",
                "--id-col",
                "Id",
            ]
        )
        == 0
    )
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert second["history_rows"] == 300 and second["version"] != first["version"]

    assert _run(["model", "versions", "--tenant", "acme", "--data-dir", str(data), "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [v["version"] for v in listing["versions"]] == [second["version"], first["version"]]
    assert listing["current"] == (second["version"] if second["promoted"] else first["version"])

    # Roll back (or forward) by hand to the version that is not current: logged with the reason.
    other = first["version"] if listing["current"] == second["version"] else second["version"]
    assert (
        _run(
            [
                "model",
                "promote",
                "--tenant",
                "acme",
                "--data-dir",
                str(data),
                "--version",
                other,
                "--reason",
                "wrong queue for VIP tickets",
            ]
        )
        == 0
    )
    capsys.readouterr()
    store = ModelStore(data / "models")
    assert store.current_version("acme") == other
    last = store.promotions("acme")[-1]
    assert (last["version"], last["by"], last["reason"]) == (
        other,
        "omega model promote",
        "wrong queue for VIP tickets",
    )
    assert _run(["model", "versions", "--tenant", "acme", "--data-dir", str(data)]) == 0
    table = capsys.readouterr().out
    assert f"* {other}" in table and "wrong queue for VIP tickets" in table

    # Unknown versions, other tenants' versions and tenants without labels are refused.
    assert (
        _run(["model", "promote", "--tenant", "acme", "--data-dir", str(data), "--version", "nope"])
        == 2
    )
    assert (
        _run(
            ["model", "promote", "--tenant", "globex", "--data-dir", str(data), "--version", other]
        )
        == 2
    )
    assert (
        _run(["model", "train", "--tenant", "globex", "--data-dir", str(data), "--no-embeddings"])
        == 2
    )
    assert "'globex' has 0 labelled ticket(s)" in capsys.readouterr().err
    assert (
        _run(["model", "promote", "--tenant", "acme", "--data-dir", str(data), "--version", "../x"])
        == 2
    )
    assert "invalid model version: '../x'" in capsys.readouterr().err
    assert store.current_version("acme") == other and store.versions("globex") == []


def test_cli_retrains_every_tenant_for_a_nightly_job(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`omega model train --all-tenants` (the production CronJob): every tenant of the tenants
    file in turn, one JSON line each; a tenant with too little data is skipped, not an error; a
    tenant that fails (a damaged current model) is reported and the others still train, and the
    job exits 1 so the failure is visible; with --min-new and nothing new, everything skips."""
    monkeypatch.setenv("OMEGA_DOCUMENTS", "sqlite")
    monkeypatch.setenv("OMEGA_BUS", "sqlite")
    data = tmp_path / "data"
    data.mkdir()
    for tenant, seed in (("acme", 41), ("globex", 42), ("initech", 43)):
        _fill(data / "omega.db", tenant, synthetic_tickets(300, seed=seed), store_vectors=False)
    (data / "tenants.toml").write_text(
        "".join(f"[tenants.{t}]\n" for t in ("acme", "globex", "initech", "tiny")),
        encoding="utf-8",
    )
    base = ["model", "train", "--all-tenants", "--data-dir", str(data), "--no-embeddings"]

    assert _run(base) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    by_tenant = {line["tenant"]: line for line in lines}
    assert list(by_tenant) == ["acme", "default", "globex", "initech", "tiny"]
    assert all(by_tenant[t]["promoted"] for t in ("acme", "globex", "initech"))
    for t in ("default", "tiny"):
        assert by_tenant[t]["skipped"] and "labelled" in by_tenant[t]["reason"]
    store = ModelStore(data / "models")
    assert store.load("globex").tenant == "globex"

    # globex's current model file is damaged: its line says so, acme and initech still train.
    current = store.current_version("globex")
    (data / "models" / "globex" / str(current) / "model.joblib").write_bytes(b"damaged")
    _fill(data / "omega.db", "acme", synthetic_tickets(60, seed=44), store_vectors=False)
    assert _run(base) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    by_tenant = {line["tenant"]: line for line in lines}
    assert "is not a readable model" in by_tenant["globex"]["error"]
    assert "version" in by_tenant["acme"] and "version" in by_tenant["initech"]

    assert _run([*base, "--min-new", "10"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert lines and all(line["skipped"] and not line["promoted"] for line in lines)
