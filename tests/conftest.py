"""Shared fixtures: an embedded mesh on port 0 over a temporary data directory."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mesh.app import EmbeddedMesh
from mesh.settings import OmegaSettings

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
PSA_REFERENCE = SHARED / "reference" / "psa"
DEMO_PAYLOADS = REPO / "demo" / "payloads"


class RuleOfThumbTriager:
    """A deterministic stand-in for the local Titan, for tests of the pipeline's *mechanics*
    (states, retries, idempotency). Tests of triage quality use titans.local for real."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail_times = 0  # raise this many times before answering

    def needs_embedding(self, tenant: str) -> bool:
        return False

    def triage(self, tenant: str, *, title: str, description: str, **_: Any) -> dict[str, Any]:
        self.calls += 1
        if self.fail_times > 0:
            self.fail_times -= 1
            raise RuntimeError("triage backend hiccup")
        text = f"{title} {description}".lower()
        label = "Email" if "outlook" in text or "mail" in text else "General"
        return {
            "category": {"label": label, "confidence": 0.9, "alternatives": [[label, 0.9]],
                         "method": "learned", "needs_review": False},
            "priority": {"label": "Medium", "confidence": 0.6, "alternatives": [],
                         "method": "rules", "needs_review": False},
            "needs_review": "review me" in text,
            "reasons": ["test triager"],
            "model_version": "test-1",
            "language": "en",
            "decided_by": "local",
        }


async def eventually(predicate: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Wait (bounded) until ``predicate()`` holds; returns whether it did. Callers assert the
    state itself afterwards, so a failure shows what was there instead of a bare False."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def timeline_until(
    mesh: EmbeddedMesh, ticket_id: str, done: Callable[[list[Any]], bool], timeout_s: float = 10.0
) -> list[Any]:
    """The ticket's timeline once ``done(events)`` holds. A step's event is recorded right after
    the step's own save, so a reader who saw the new state may be a moment ahead of it."""
    assert mesh.store is not None
    deadline = time.monotonic() + timeout_s
    while True:
        events = await mesh.store.timeline.events(mesh.settings.default_tenant, ticket_id)
        if done(events) or time.monotonic() > deadline:
            return list(events)
        await asyncio.sleep(0.02)


def make_settings(tmp: Path, **overrides: Any) -> OmegaSettings:
    base: dict[str, Any] = {
        "grpc_addr": "127.0.0.1:0",
        "http_addr": "127.0.0.1:0",
        "data_dir": tmp / "data",
        "retry_backoff_s": 0.01,
        "retry_backoff_max_s": 0.05,
        "visibility_timeout_s": 5.0,
        "log_json": False,
    }
    base.update(overrides)
    return OmegaSettings(**base)


@pytest.fixture
def triager() -> RuleOfThumbTriager:
    return RuleOfThumbTriager()


@pytest.fixture
def settings(tmp_path: Path) -> OmegaSettings:
    return make_settings(tmp_path)


@pytest.fixture
def mesh_components() -> list[Any] | None:
    """The mesh fixture's components: None means the default ones (shadow, MCP, federation…).
    Tests of the ingest/pipeline mechanics override this with [] so that downstream teams
    (the shadow team moves TRIAGED tickets on to PROPOSED) do not race their assertions."""
    return None


@pytest.fixture
async def mesh(
    settings: OmegaSettings, triager: RuleOfThumbTriager, mesh_components: list[Any] | None
) -> AsyncIterator[EmbeddedMesh]:
    m = EmbeddedMesh(settings, triager=triager, embedder=None, components=mesh_components)
    await m.start()
    try:
        yield m
    finally:
        await m.stop(grace_s=0.5)


@pytest.fixture
def psa_reference() -> Iterator[Path]:
    if not PSA_REFERENCE.exists():
        pytest.skip(f"the PSA reference payloads are not at {PSA_REFERENCE}")
    yield PSA_REFERENCE


def run_omega_up(data_dir: Path) -> subprocess.CompletedProcess[str]:
    """The real `omega up` command on ``data_dir`` with ports chosen by the OS, for tests of how
    it refuses to start (it must exit by itself)."""
    env = dict(
        os.environ,
        OMEGA_DATA_DIR=str(data_dir),
        OMEGA_GRPC_ADDR="127.0.0.1:0",
        OMEGA_HTTP_ADDR="127.0.0.1:0",
        OMEGA_LOG_LEVEL="WARNING",
    )
    omega = str(Path(sys.executable).with_name("omega"))
    return subprocess.run(
        [omega, "up"], env=env, capture_output=True, text=True, timeout=300, check=False
    )
