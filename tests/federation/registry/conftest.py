"""Fixtures for the Agent Registry tests: a manual clock and a real server on port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from federation.core.hosting import ServiceServer
from federation.registry.server import RegistryDeps, create_server
from federation.registry.service import AgentRegistry
from mesh.settings import OmegaSettings


class ManualClock:
    """A clock tests move by hand (seconds since the epoch)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def registry(clock: ManualClock) -> AgentRegistry:
    return AgentRegistry(clock=clock, default_lease_s=10.0)


@pytest.fixture
async def registry_server(
    registry: AgentRegistry, tmp_path: Path
) -> AsyncIterator[ServiceServer]:
    settings = OmegaSettings(grpc_addr="127.0.0.1:0", data_dir=tmp_path)
    srv = create_server(settings, RegistryDeps(registry))
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop(grace_s=0.2)


@pytest.fixture
async def channel(registry_server: ServiceServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{registry_server.port}") as ch:
        yield ch
