"""open_store picks the adapters named by the settings (no I/O happens at open)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.composite import CompositeStore
from backends.factory import open_store
from backends.redis.bus import RedisStreamsBus
from backends.settings import BackendSettings
from backends.sqlite.adapters import EmbeddedStore
from federation.errors import FailedPrecondition
from tests.conftest import make_settings


def test_the_default_is_the_embedded_sqlite_store(tmp_path: Path) -> None:
    store = open_store(make_settings(tmp_path), BackendSettings())
    try:
        assert isinstance(store, EmbeddedStore)
    finally:
        store.close()


async def test_redis_and_cosmos_select_the_composite_store(tmp_path: Path) -> None:
    backends = BackendSettings(
        bus="redis", documents="cosmos", blobs="local", cosmos_endpoint="https://127.0.0.1:8081",
        cosmos_key="a2V5", redis_prefix="omega-factory",
    )
    store = open_store(make_settings(tmp_path), backends)
    try:
        assert isinstance(store, CompositeStore)
        assert isinstance(store.bus.inner, RedisStreamsBus)
        for port in ("bus", "journal", "tickets", "dead_letters", "timeline", "features", "db"):
            assert getattr(store, port) is not None
    finally:
        await store.aclose()


def test_settings_are_read_from_the_omega_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMEGA_BUS", "servicebus")
    monkeypatch.setenv("OMEGA_DOCUMENTS", "cosmos")
    monkeypatch.setenv("OMEGA_BLOBS", "azure")
    monkeypatch.setenv("OMEGA_AZURE_AUTH", "workload-identity")
    monkeypatch.setenv("OMEGA_SERVICEBUS_FQDN", "omega.servicebus.windows.net")
    monkeypatch.setenv("OMEGA_SERVICEBUS_SUBSCRIPTIONS", '{"ticket.raw": "orchestrator"}')
    s = BackendSettings()
    assert s.servicebus_subscriptions == {"ticket.raw": "orchestrator"}
    assert (s.bus, s.documents, s.blobs, s.azure_auth) == ("servicebus", "cosmos", "azure", "workload-identity")
    assert s.servicebus_fqdn == "omega.servicebus.windows.net" and not s.cosmos_create_containers


@pytest.mark.parametrize(
    "kw",
    [
        {"bus": "redis"},  # the embedded store queues in its own database
        {"documents": "cosmos"},  # no endpoint
        {"documents": "cosmos", "cosmos_endpoint": "https://x", "cosmos_key": "a2V5", "bus": "sqlite"},
    ],
)
def test_inconsistent_settings_are_refused(tmp_path: Path, kw: dict[str, str]) -> None:
    with pytest.raises(FailedPrecondition):
        open_store(make_settings(tmp_path), BackendSettings(**kw))  # type: ignore[arg-type]
