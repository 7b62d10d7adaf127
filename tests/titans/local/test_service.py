"""LocalTriage: versions and promotion, tenant isolation, rules-marked priority, languages."""

from __future__ import annotations

import dataclasses
import random
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from titans.local.history import default_demo_history, load_demo_history
from titans.local.service import LocalTriage, is_holdout
from titans.local.store import ModelNotFoundError, ModelStore, TenantMismatchError

from .conftest import synthetic_tickets


def _corrupt_training_labels(rows, seed: int = 5):
    """Shuffle the labels of the tickets a model trains on; hold-out tickets keep true labels."""
    rng = random.Random(seed)
    train = [i for i, r in enumerate(rows) if not is_holdout(r)]
    labels = [rows[i].category for i in train]
    rng.shuffle(labels)
    out = list(rows)
    for i, lab in zip(train, labels, strict=True):
        out[i] = dataclasses.replace(rows[i], category=lab)
    return out


def test_train_promotes_first_model_and_triage_records_version(tmp_path: Path) -> None:
    lt = LocalTriage(tmp_path)
    result = lt.train("acme", synthetic_tickets(500, seed=1))
    assert result.promoted and result.n_holdout >= 50
    decision = lt.triage("acme", title="printer toner jam", description="tray paper")
    assert decision.model_version == result.version
    assert decision.category.label == "Printer" and decision.category.method == "learned"


def test_worse_model_is_not_promoted_and_better_one_is(tmp_path: Path) -> None:
    lt = LocalTriage(tmp_path)
    rows = synthetic_tickets(500, seed=1)
    first = lt.train("acme", rows[:60])  # clearly weaker than the last: 5 points on the hold-out
    worse = lt.train("acme", _corrupt_training_labels(rows))
    assert not worse.promoted
    assert worse.incumbent is not None and worse.candidate["accuracy"] < worse.incumbent["accuracy"]
    store = ModelStore(tmp_path)
    assert store.current_version("acme") == first.version
    assert worse.version in store.versions("acme")  # kept on disk, just not current
    better = lt.train("acme", rows + synthetic_tickets(500, seed=3))
    assert better.promoted, better.reason
    assert lt.triage("acme", title="vpn down", description="").model_version == better.version


class _OperatorPromotesDuringTraining(ModelStore):
    """The folder store, except that while a candidate is being stored (after it was fitted and
    measured against the current model) an operator in another process makes ``chosen``
    current, as `omega model promote` would."""

    chosen: str | None = None

    def save(self, model, extra=None):  # type: ignore[no-untyped-def]
        folder = super().save(model, extra)
        if self.chosen is not None:
            ModelStore(self.root).promote(model.tenant, self.chosen, reason="by hand", by="ops")
            self.chosen = None
        return folder


def test_an_operators_promotion_made_while_a_model_trains_is_never_overridden(
    tmp_path: Path,
) -> None:
    """The candidate beat the model that was current when training began; but an operator
    promoted another version meanwhile, so the candidate is not promoted (compare-and-set on
    ``current``): the operator's choice stands, the result says why, and the log shows no
    promotion by training."""
    store = _OperatorPromotesDuringTraining(tmp_path)
    lt = LocalTriage(tmp_path, store=store)
    rows = synthetic_tickets(500, seed=1)
    first = lt.train("acme", rows[:60])
    kept = lt.train("acme", _corrupt_training_labels(rows))
    assert first.promoted and not kept.promoted
    store.chosen = kept.version
    better = lt.train("acme", rows)
    assert better.candidate["accuracy"] > better.incumbent["accuracy"]  # it did beat `first`
    assert not better.promoted and better.current_version == kept.version
    assert f"current model changed from {first.version} to {kept.version}" in better.reason
    assert store.current_version("acme") == kept.version
    assert lt.triage("acme", title="vpn down", description="").model_version == kept.version
    log = [(e["version"], e["by"]) for e in store.promotions("acme")]
    assert log[-1] == (kept.version, "ops") and better.version not in {v for v, _ in log}
    assert store.meta("acme", better.version)["better_than_incumbent"] is True


def test_a_small_tenant_replaces_the_demo_model_on_out_of_fold_figures(tmp_path: Path) -> None:
    """Below ~250 labelled tickets there is no hold-out, but the demo-history model every tenant
    starts on never saw the tenant's tickets: the candidate's out-of-fold accuracy on them is
    compared with the demo model's on the same tickets. Once the tenant's own model serves, a
    small retrain waits for a hold-out again."""
    lt = LocalTriage(tmp_path, demo_history=default_demo_history())
    demo_version = lt.triage("smallco", title="printer jam", description="").model_version
    store = ModelStore(tmp_path)
    assert store.meta("smallco", demo_version)["source"] == "demo-history"

    # The demo model was trained on these very tickets: the tenant's copy cannot beat it.
    same = lt.train("smallco", load_demo_history(default_demo_history())[:150])
    assert same.n_holdout == 0 and not same.promoted
    assert same.incumbent is not None and same.incumbent["accuracy"] > 0.9
    assert same.candidate["accuracy"] < same.incumbent["accuracy"]
    assert "out-of-fold accuracy on the tenant's" in same.reason

    # The tenant's own categories (which the demo model does not know): promoted.
    own = lt.train("smallco", synthetic_tickets(120, seed=1))
    assert own.n_holdout == 0 and own.promoted, own.reason
    assert own.candidate["accuracy"] > own.incumbent["accuracy"]  # type: ignore[index]
    assert own.candidate["n"] == 120 and "the demo model never saw them" in own.reason
    assert store.current_version("smallco") == own.version
    assert store.meta("smallco", own.version)["compared_on"] == "out-of-fold"
    decision = lt.triage("smallco", title="printer toner jam", description="tray paper")
    assert decision.model_version == own.version and decision.category.label == "Printer"

    again = lt.train("smallco", synthetic_tickets(150, seed=2))
    assert not again.promoted and again.reason.startswith("too few hold-out tickets")
    assert store.current_version("smallco") == own.version


def test_model_of_one_tenant_is_never_served_to_another(tmp_path: Path) -> None:
    lt = LocalTriage(tmp_path)
    a = lt.train("tenant-a", synthetic_tickets(300, seed=1))
    store = ModelStore(tmp_path)
    # Simulate a copied model folder and a hand-edited pointer for tenant b.
    shutil.copytree(tmp_path / "tenant-a", tmp_path / "tenant-b")
    with pytest.raises(TenantMismatchError):
        store.load("tenant-b")
    with pytest.raises(TenantMismatchError):
        LocalTriage(tmp_path).triage("tenant-b", title="printer", description="")
    assert store.load("tenant-a").version == a.version
    with pytest.raises(ValueError):
        store.load("../tenant-a")


def test_fresh_tenant_gets_demo_model_quickly_and_no_model_without_demo(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError):
        LocalTriage(tmp_path / "none").triage("new", title="printer", description="")
    lt = LocalTriage(tmp_path, demo_history=default_demo_history())
    start = time.perf_counter()
    decision = lt.triage("fresh", title="Printer offline", description="the printer does not print")
    assert time.perf_counter() - start < 30.0
    assert decision.category.label == "Printer"
    assert decision.model_version == ModelStore(tmp_path).current_version("fresh")
    assert decision.queue is not None and decision.technician is not None
    assert decision.priority.method == "learned"  # demo history has priority labels
    de = lt.triage("fresh", title="Drucker druckt nicht", description="Der Drucker ist offline")
    assert de.language == "de" and "unsupported" not in " ".join(de.reasons)


def test_priority_without_labels_is_rules_marked_as_rules(tmp_path: Path) -> None:
    lt = LocalTriage(tmp_path)
    lt.train("acme", synthetic_tickets(300, seed=1))
    calm = lt.triage("acme", title="toner", description="please order toner")
    hot = lt.triage("acme", title="outage", description="vpn down for all users, urgent")
    alert = lt.triage("acme", title="switch", description="", alert_severity="Critical")
    src = lt.triage("acme", title="toner", description="", source_priority="High")
    for d in (calm, hot, alert):
        assert d.priority.method == "rules" and d.priority.confidence == 0.0
    assert calm.priority.label == "P4"
    assert hot.priority.label in {"P1", "P2"}
    assert alert.priority.label in {"P2", "P3"}
    assert any(r.startswith("rule") for r in hot.reasons)
    assert src.priority.method == "source" and src.priority.label == "High"


def test_unsupported_language_goes_to_review(tmp_path: Path) -> None:
    lt = LocalTriage(tmp_path)
    rows = synthetic_tickets(300, seed=1)
    rows = [dataclasses.replace(r, description=r.description + " please the is not") for r in rows]
    lt.train("acme", rows)
    fr = lt.triage(
        "acme", title="imprimante", description="Bonjour, mon imprimante ne marche pas, merci"
    )
    assert fr.language == "fr" and fr.needs_review and fr.category.needs_review
    assert any(r.startswith("unsupported language: fr") for r in fr.reasons)


def test_embedding_model_needs_the_embedding(tmp_path: Path) -> None:
    lt = LocalTriage(tmp_path)
    rows = synthetic_tickets(300, seed=1, embed=True)
    lt.train("acme", rows)
    assert lt.needs_embedding("acme")
    probe = synthetic_tickets(1, seed=9, embed=True)[0]
    d = lt.triage(
        "acme", title=probe.title, description=probe.description, embedding=probe.embedding
    )
    assert d.category.label in {"Printer", "Email", "Network", "Access", "Hardware"}
    assert any(r.startswith("similar past tickets") for r in d.reasons)
    with pytest.raises(ValueError):
        lt.triage("acme", title=probe.title, description=probe.description)
    assert np.asarray(probe.embedding).shape == (16,)


class CountingEmbedder:
    """A deterministic stand-in for MiniLM (hashed bag of words, 32-d) that counts its calls."""

    model_id = "fake-embedder"
    dim = 32

    def __init__(self) -> None:
        self.texts = 0

    def embed(self, texts, *, batch_size: int = 32) -> np.ndarray:
        self.texts += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.split():
                out[i, sum(map(ord, word)) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


def test_demo_model_with_embedder_embeds_demo_once_and_never_twice_per_ticket(
    tmp_path: Path,
) -> None:
    emb = CountingEmbedder()
    lt = LocalTriage(tmp_path, embedder=emb, demo_history=default_demo_history())  # type: ignore[arg-type]
    assert lt.needs_embedding("t1")
    after_first = emb.texts
    assert after_first > 100  # the demo history, embedded once
    lt.needs_embedding("t2")
    assert emb.texts == after_first  # second fresh tenant reuses the cached demo embeddings
    vec = emb.embed(["printer offline"])[0]
    before = emb.texts
    d = lt.triage("t1", title="printer offline", description="", embedding=vec)
    assert emb.texts == before  # the pipeline's embedding is used, not recomputed
    assert (
        d.model_version
        != lt.triage("t2", title="printer offline", description="", embedding=vec).model_version
    )


def test_changed_embedder_retrains_demo_model_and_warns_for_a_tenant_model(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """OMEGA_EMBEDDING_MAX_TOKENS changes the embedder's model id: a demo-trained model is
    retrained on the new vectors; a model trained on the tenant's own history keeps serving
    with a warning naming `omega model train`."""
    first = CountingEmbedder()
    lt = LocalTriage(tmp_path, embedder=first, demo_history=default_demo_history())  # type: ignore[arg-type]
    old_version = lt.model("t1").version
    rows = [
        dataclasses.replace(r, embedding=first.embed([r.text])[0])
        for r in synthetic_tickets(300, seed=1)
    ]
    lt.train("acme", rows)
    acme_version = lt.model("acme").version

    changed = CountingEmbedder()
    changed.model_id = "fake-embedder@64"
    again = LocalTriage(tmp_path, embedder=changed, demo_history=default_demo_history())  # type: ignore[arg-type]
    retrained = again.model("t1")
    assert retrained.version != old_version
    assert retrained.embedding_model_id == "fake-embedder@64"
    assert ModelStore(tmp_path).current_version("t1") == retrained.version
    with caplog.at_level("WARNING"):
        kept = again.model("acme")
    assert kept.version == acme_version and kept.embedding_model_id == "fake-embedder"
    assert "omega model train" in caplog.text
