"""Fixtures for the Context Server tests."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from context.service import ContextService

sys.path.insert(0, str(Path(__file__).parent))

from context_helpers import FakeClock, HashingEmbedder, make_service  # noqa: E402


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture
async def service(
    tmp_path: Path, clock: FakeClock, embedder: HashingEmbedder
) -> AsyncIterator[ContextService]:
    svc = make_service(tmp_path, clock, embedder)
    yield svc
    await svc.close()
