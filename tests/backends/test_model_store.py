"""The tenant model store contract, on the local folder (embedded) and on Azure Blob Storage
(the real SDK against Azurite): immutable versions, the `current` pointer and its promotion
log, tenant checks, and for Blob the pointer every pod re-reads within its TTL."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient, LinearRetry

from backends.azure_blob.model_store import BlobModelStore
from backends.factory import open_model_store
from backends.settings import AZURITE_CONNECTION_STRING, BackendSettings
from federation.errors import FailedPrecondition, Unavailable
from tests.backends.conftest import AZURITE, require, unique
from tests.conftest import make_settings
from tests.titans.local.conftest import synthetic_tickets
from titans.local.model import TriageModel
from titans.local.service import LocalTriage
from titans.local.store import (
    ModelNotFoundError,
    ModelStore,
    PromotionConflict,
    TenantMismatchError,
)


def _blob_store(container: str, root: Path, ttl: float = 10.0) -> BlobModelStore:
    return BlobModelStore.connect(
        container=container,
        root=root,
        connection_string=AZURITE_CONNECTION_STRING,
        pointer_ttl_s=ttl,
    )


def _drop(container: str) -> None:
    service = BlobServiceClient.from_connection_string(AZURITE_CONNECTION_STRING)
    try:
        service.delete_container(container)
    except Exception:  # noqa: BLE001 - Azurite keeps nothing across restarts anyway
        pass


@pytest.fixture(params=["local", "azurite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ModelStore]:
    if request.param == "local":
        yield ModelStore(tmp_path / "models")
        return
    require(AZURITE, "azurite")
    container = unique("models-")
    s = _blob_store(container, tmp_path / "scratch")
    s.ensure_container()
    yield s
    _drop(container)


def _model(tenant: str, seed: int = 1) -> TriageModel:
    return TriageModel.train(tenant, synthetic_tickets(120, seed=seed), embeddings=None)


def test_versions_pointer_log_and_tenant_checks(store: ModelStore) -> None:
    assert store.versions("acme") == [] and store.current_version("acme") is None
    with pytest.raises(ModelNotFoundError):
        store.load("acme")
    first = _model("acme")
    first.version = store.new_version("acme")
    store.save(first, {"source": "test"})
    second = _model("acme", seed=2)
    second.version = store.new_version("acme")
    store.save(second)
    assert store.versions("acme") == sorted([first.version, second.version])
    assert store.meta("acme", first.version)["source"] == "test"
    assert store.current_version("acme") is None  # saved is not promoted

    store.promote("acme", first.version, reason="first", by="test")
    store.promote("acme", second.version, reason="better", by="test")
    store.promote("acme", first.version, reason="roll back", by="ops")
    assert store.current_version("acme") == first.version
    log = store.promotions("acme")
    assert [(e["version"], e["previous"], e["reason"]) for e in log] == [
        (first.version, None, "first"),
        (second.version, first.version, "better"),
        (first.version, second.version, "roll back"),
    ]
    loaded = store.load("acme")
    assert (loaded.tenant, loaded.version) == ("acme", first.version)
    assert store.load("acme", second.version).version == second.version

    with pytest.raises(ModelNotFoundError):
        store.promote("acme", "20990101T000000.000-ffffff")
    with pytest.raises(ValueError, match="invalid model version"):
        store.load("acme", "../globex/x")
    # Another tenant has nothing, and a pointer naming acme's version does not serve acme's model.
    with pytest.raises(ModelNotFoundError):
        store.promote("globex", first.version)
    assert store.versions("globex") == [] and store.promotions("globex") == []


def _saved(store: ModelStore, tenant: str, seed: int) -> str:
    model = _model(tenant, seed=seed)
    model.version = store.new_version(tenant)
    store.save(model)
    return model.version


def test_promotion_with_expected_is_a_compare_and_set(store: ModelStore) -> None:
    """``expected`` names the version the caller measured against: if ``current`` is anything
    else, nothing changes (pointer and log) and the conflict names what is there now."""
    first, second, third = (_saved(store, "acme", seed) for seed in (1, 2, 3))
    with pytest.raises(PromotionConflict) as info:
        store.promote("acme", second, reason="train", by="test", expected=first)
    assert info.value.found is None and store.current_version("acme") is None
    store.promote("acme", first, reason="first", by="test", expected=None)
    with pytest.raises(PromotionConflict) as info:
        store.promote("acme", second, reason="first again", by="test", expected=None)
    assert info.value.found == first
    store.promote("acme", second, reason="better", by="test", expected=first)
    with pytest.raises(PromotionConflict, match=f"current model is {second}"):
        store.promote("acme", third, reason="stale", by="test", expected=first)
    assert store.current_version("acme", fresh=True) == second
    assert [(e["version"], e["previous"]) for e in store.promotions("acme")] == [
        (first, None),
        (second, first),
    ]


def _racing_stores(kind: str, tmp_path: Path, n: int) -> tuple[list[ModelStore], str | None]:
    if kind == "local":  # one store per "process": separate lock-file descriptors
        return [ModelStore(tmp_path / "models") for _ in range(n)], None
    require(AZURITE, "azurite")
    container = unique("models-")
    stores: list[ModelStore] = [_blob_store(container, tmp_path / f"pod{i}") for i in range(n)]
    stores[0].ensure_container()  # type: ignore[attr-defined]
    return stores, container


@pytest.mark.parametrize("kind", ["local", "azurite"])
def test_racing_training_runs_promote_exactly_one(kind: str, tmp_path: Path) -> None:
    """Four writers (threads, each with its own store: four pods or processes) all measured
    against the same current version and all try to replace it at once: exactly one wins, the
    others get PromotionConflict naming the winner, and the log holds one entry per change."""
    stores, container = _racing_stores(kind, tmp_path, 4)
    try:
        base = _saved(stores[0], "acme", 1)
        stores[0].promote("acme", base, expected=None)
        candidates = [_saved(stores[0], "acme", seed) for seed in (2, 3, 4, 5)]
        barrier = threading.Barrier(len(stores))
        outcome: dict[str, str] = {}

        def race(s: ModelStore, version: str) -> None:
            barrier.wait()
            try:
                s.promote("acme", version, reason="race", by="test", expected=base)
                outcome[version] = "won"
            except PromotionConflict as exc:
                outcome[version] = f"lost to {exc.found}"

        threads = [
            threading.Thread(target=race, args=(s, v))
            for s, v in zip(stores, candidates, strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        winners = [v for v, o in outcome.items() if o == "won"]
        assert len(outcome) == 4 and len(winners) == 1, outcome
        assert all(o == f"lost to {winners[0]}" for v, o in outcome.items() if v != winners[0])
        assert stores[1].current_version("acme", fresh=True) == winners[0]
        assert [(e["version"], e["previous"]) for e in stores[2].promotions("acme")] == [
            (base, None),
            (winners[0], base),
        ]
    finally:
        if container:
            _drop(container)


def test_a_folder_promotion_waits_for_another_process_holding_the_pointer_lock(
    tmp_path: Path,
) -> None:
    """The folder store's compare-and-set holds ``.current.lock`` (flock) from reading the
    pointer to appending the log: while another process holds it (here: this test, as
    `omega model promote` would), a promotion waits, then compares against what that process
    wrote and refuses a stale one."""
    import fcntl

    store = ModelStore(tmp_path / "models")
    base, mine, theirs = (_saved(store, "acme", seed) for seed in (1, 2, 3))
    store.promote("acme", base, expected=None)
    result: list[object] = []

    def train_run() -> None:
        try:
            store.promote("acme", mine, reason="train", by="test", expected=base)
            result.append("promoted")
        except PromotionConflict as exc:
            result.append(exc.found)

    with (store.tenant_dir("acme") / ".current.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        worker = threading.Thread(target=train_run)
        worker.start()
        worker.join(0.5)
        assert worker.is_alive() and not result  # waiting for the lock
        # The other process's promotion, made while it holds the lock.
        (store.tenant_dir("acme") / "current").write_text(theirs, encoding="utf-8")
    worker.join(10)
    assert result == [theirs] and store.current_version("acme") == theirs


def test_a_model_copied_under_another_tenant_is_refused(tmp_path: Path) -> None:
    """Blob: the model file records its tenant; a blob copied into another tenant's folder (by
    hand, or a bug) is refused on load, exactly as on the local folder."""
    require(AZURITE, "azurite")
    container = unique("models-")
    s = _blob_store(container, tmp_path / "scratch")
    s.ensure_container()
    try:
        model = _model("acme")
        model.version = s.new_version("acme")
        s.save(model)
        blobs = BlobServiceClient.from_connection_string(
            AZURITE_CONNECTION_STRING
        ).get_container_client(container)
        data = blobs.download_blob(f"acme/{model.version}/model.joblib").readall()
        blobs.upload_blob(f"globex/{model.version}/model.joblib", data)
        s.promote("globex", model.version)
        with pytest.raises(TenantMismatchError):
            s.load("globex")
        # Scratch downloads are gone: the pod's disk keeps no model copies.
        assert not list((tmp_path / "scratch").rglob("model.joblib"))
    finally:
        _drop(container)


def test_every_pod_serves_a_promotion_within_the_pointer_ttl(tmp_path: Path) -> None:
    """Two triagers (two pods) over one container: a model trained and promoted by one (as
    `omega model train` does) serves on the other once its pointer TTL has passed."""
    require(AZURITE, "azurite")
    container = unique("models-")
    ttl = 0.5
    pod_a = LocalTriage(tmp_path / "a", store=_blob_store(container, tmp_path / "a", ttl))
    pod_b = LocalTriage(tmp_path / "b", store=_blob_store(container, tmp_path / "b", ttl))
    pod_a._store.ensure_container()  # type: ignore[attr-defined]
    try:
        first = pod_a.train("acme", synthetic_tickets(400, seed=3))
        assert first.promoted
        ticket = {"title": "printer toner jam", "description": "tray paper"}
        assert pod_b.triage("acme", **ticket).model_version == first.version
        # pod A trains on worse labels: stored, not promoted; then an operator rolls forward.
        rows = synthetic_tickets(400, seed=3)
        worse = [
            r if i % 2 else r.__class__(r.title, r.description, "Email", ticket_id=r.ticket_id)
            for i, r in enumerate(rows)
        ]
        second = pod_a.train("acme", worse)
        assert not second.promoted
        pod_a._store.promote("acme", second.version, reason="test", by="ops")  # type: ignore[attr-defined]
        assert pod_b.triage("acme", **ticket).model_version == first.version  # within the TTL
        time.sleep(ttl + 0.3)
        assert pod_b.triage("acme", **ticket).model_version == second.version
        assert not list(tmp_path.rglob("model.joblib"))
    finally:
        _drop(container)


def test_a_pod_keeps_serving_its_version_while_blob_storage_is_down(tmp_path: Path) -> None:
    """Blob Storage unreachable (a closed port): a pod that knows a tenant's version keeps it;
    a pod that knows none answers UNAVAILABLE instead of guessing."""
    require(AZURITE, "azurite")
    container = unique("models-")
    live = _blob_store(container, tmp_path / "live", ttl=0.0)
    live.ensure_container()
    try:
        model = _model("acme")
        model.version = live.new_version("acme")
        live.save(model)
        live.promote("acme", model.version)
        assert live.current_version("acme") == model.version
        dead = BlobServiceClient(
            "http://127.0.0.1:9/devstoreaccount1",
            credential=None,
            retry_policy=LinearRetry(retry_total=0),
            connection_timeout=1,
        ).get_container_client(container)
        live._c = dead  # the same pod, its storage gone
        assert live.current_version("acme") == model.version
        fresh = BlobModelStore(dead, tmp_path / "fresh", pointer_ttl_s=0.0)
        with pytest.raises(Unavailable, match="blob storage unavailable"):
            fresh.current_version("acme")
    finally:
        _drop(container)


def test_the_factory_picks_the_store_from_omega_models(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    assert type(open_model_store(settings, BackendSettings())) is ModelStore
    with pytest.raises(FailedPrecondition, match="OMEGA_MODELS=blob needs OMEGA_BLOB_ACCOUNT_URL"):
        open_model_store(settings, BackendSettings(models="blob"))
    require(AZURITE, "azurite")
    container = unique("models-")
    try:
        blob = open_model_store(
            settings,
            BackendSettings(
                models="blob",
                blob_connection_string=AZURITE_CONNECTION_STRING,
                blob_models_container=container,
                blob_create_containers=True,
            ),
        )
        assert isinstance(blob, BlobModelStore) and blob.versions("acme") == []
    finally:
        _drop(container)
        shutil.rmtree(tmp_path / "data", ignore_errors=True)
