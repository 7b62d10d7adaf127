"""The launcher of `omega up --processes`: children on their own ports, restarted after kill -9,
stopped on shutdown, the data-dir lock held meanwhile (real `omega serve` subprocesses)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from federation.errors import FailedPrecondition
from mesh.app import DataDirLock
from mesh.launcher import Launcher
from tests.conftest import make_settings


async def _until(predicate: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


@pytest.mark.timeout(180)
async def test_launcher_restarts_a_killed_child_and_stops_all(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    launcher = Launcher(settings, ["agent-registry", "mcp-registry", "analytics"], grace_s=5)
    assert "analytics" in launcher.skipped  # nothing provides it yet: not started, reason kept
    await launcher.start()
    try:
        assert await launcher.wait_healthy(120)
        registry = launcher.children["agent-registry"]
        assert registry.grpc_addr != launcher.children["mcp-registry"].grpc_addr
        assert launcher.child_env(registry)["OMEGA_MCP_REGISTRY_ADDR"] == (
            launcher.children["mcp-registry"].grpc_addr
        )
        with pytest.raises(FailedPrecondition):  # the launcher owns the data directory
            DataDirLock(settings.data_dir).acquire()
        assert registry.proc is not None
        first = registry.proc.pid
        os.kill(first, signal.SIGKILL)
        await _until(lambda: registry.restarts == 1 and registry.proc is not None
                     and registry.proc.pid != first and registry.healthy, 120)
        pids = [c.proc.pid for c in launcher.children.values() if c.proc is not None]
    finally:
        await launcher.stop()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    lock = DataDirLock(settings.data_dir)
    lock.acquire()  # released on stop
    lock.release()
