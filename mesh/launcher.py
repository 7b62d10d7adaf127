"""``omega up --processes``: every service and every team in its own ``omega serve`` process.

The launcher holds the data-dir lock, gives each child its own port and tells every child where
the others are (``OMEGA_<SERVICE>_ADDR``), then supervises them: a child that exits is started
again after a backoff (0.5 s doubling to 10 s, reset once it has run for 30 s), every child's
``grpc.health.v1`` is checked, SIGTERM is forwarded on shutdown (SIGKILL after the grace
period). Children share the embedded SQLite store (WAL, busy timeout); a dead child's leased
messages come back after the visibility timeout (10 s by default in this mode). The current
children (name, pid, addresses, restarts) are written to ``$OMEGA_DATA_DIR/processes.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import IO

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from backends.factory import open_store
from mesh.app import DataDirLock
from mesh.serve import NotDeployable, components_for
from mesh.settings import OmegaSettings, write_default_tenants_file

log = logging.getLogger(__name__)

# Started in this order (registries before the services that register with them).
DEFAULT_PROCESSES = (
    "agent-registry", "federation-core", "mcp-registry", "capacity-manager", "context-server",
    "orchestrator", "ingest", "gateway", "triage", "shadow",
)
PROCESS_MODE_VISIBILITY_S = 10.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def available(names: tuple[str, ...] | list[str]) -> tuple[list[str], dict[str, str]]:
    """The deployables that can run here, and why the others cannot."""
    from federation.components import FederationSettings

    ok, missing = [], {}
    for name in names:
        try:
            components_for(name, FederationSettings())
            ok.append(name)
        except NotDeployable as exc:
            missing[name] = str(exc)
    return ok, missing


@dataclass
class Child:
    """One supervised ``omega serve <name>`` process."""

    name: str
    grpc_addr: str
    http_addr: str = ""
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    backoff_s: float = 0.5
    healthy: bool = False
    log_file: IO[bytes] | None = field(default=None, repr=False)


class Launcher:
    """Starts, supervises and stops the children."""

    def __init__(
        self,
        settings: OmegaSettings,
        names: list[str] | None = None,
        *,
        grace_s: float = 10.0,
        max_backoff_s: float = 10.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.settings = settings
        wanted = list(names or DEFAULT_PROCESSES)
        self.names, self.skipped = available(wanted)
        self._grace_s = grace_s
        self._max_backoff_s = max_backoff_s
        self._base_env = dict(env if env is not None else os.environ)
        self._lock = DataDirLock(settings.data_dir)
        self.children: dict[str, Child] = {}
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.log_dir = settings.data_dir / "logs"
        self.state_file = settings.data_dir / "processes.json"

    # -- addresses --------------------------------------------------------------------------
    def _plan(self) -> None:
        host = "127.0.0.1"
        for name in self.names:
            if name == "ingest":  # `omega ingest` / `omega tickets` default to OMEGA_GRPC_ADDR
                addr = self.settings.grpc_addr
            else:
                addr = f"{host}:{free_port(host)}"
            http = self.settings.http_addr if name == "gateway" else ""
            self.children[name] = Child(name, addr, http)

    def child_env(self, child: Child) -> dict[str, str]:
        env = dict(self._base_env)
        for other in self.children.values():
            env[f"OMEGA_{other.name.upper().replace('-', '_')}_ADDR"] = other.grpc_addr
        env["OMEGA_GRPC_ADDR"] = child.grpc_addr
        if child.http_addr:
            env["OMEGA_HTTP_ADDR"] = child.http_addr
        env["OMEGA_DATA_DIR"] = str(self.settings.data_dir)
        env.setdefault("OMEGA_VISIBILITY_TIMEOUT_S", str(PROCESS_MODE_VISIBILITY_S))
        env["OMEGA_TEAMS"] = ",".join(n for n in self.names if n in ("triage", "shadow", "analytics"))
        return env

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        s = self.settings
        self._lock.acquire()
        write_default_tenants_file(s.tenants_path, s.default_tenant)
        # The launcher owns the store while no child runs: create the schema once and release
        # the leases of a previous run (afterwards children rely on visibility timeouts).
        store = open_store(s)
        try:
            released = await store.bus.release_all_leases()
            if released:
                log.info("resuming %d in-flight pipeline messages from the last run", released)
        finally:
            store.close()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._plan()
        for child in self.children.values():
            self._spawn(child)
        self._write_state()
        self._task = asyncio.create_task(self._supervise())

    def _spawn(self, child: Child) -> None:
        if child.log_file is None:
            child.log_file = open(self.log_dir / f"{child.name}.log", "ab")  # noqa: SIM115
        child.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "mesh.cli", "serve", child.name],
            env=self.child_env(child), stdout=child.log_file, stderr=child.log_file,
            start_new_session=True,
        )
        child.started_at = time.monotonic()
        child.healthy = False
        log.info("started %s (pid %s) on %s", child.name, child.proc.pid, child.grpc_addr)

    async def _supervise(self) -> None:
        next_health = 0.0
        restart_at: dict[str, float] = {}
        while not self._stopping:
            now = time.monotonic()
            changed = False
            for child in self.children.values():
                proc = child.proc
                if proc is not None and proc.poll() is not None and child.name not in restart_at:
                    ran = now - child.started_at
                    if ran > 30.0:
                        child.backoff_s = 0.5
                    log.warning("%s (pid %s) exited with %s after %.1fs; restarting in %.1fs",
                                child.name, proc.pid, proc.returncode, ran, child.backoff_s)
                    restart_at[child.name] = now + child.backoff_s
                    child.backoff_s = min(self._max_backoff_s, child.backoff_s * 2)
                    child.healthy = False
                if child.name in restart_at and now >= restart_at[child.name]:
                    del restart_at[child.name]
                    child.restarts += 1
                    self._spawn(child)
                    changed = True
            if now >= next_health:
                next_health = now + 1.0
                results = await asyncio.gather(
                    *(self._check(c) for c in self.children.values()), return_exceptions=True
                )
                for child, ok in zip(self.children.values(), results, strict=True):
                    healthy = ok is True
                    changed |= healthy != child.healthy
                    child.healthy = healthy
            if changed:
                self._write_state()
            await asyncio.sleep(0.2)

    @staticmethod
    async def _check(child: Child) -> bool:
        async with grpc.aio.insecure_channel(child.grpc_addr) as ch:
            try:
                resp = await health_pb2_grpc.HealthStub(ch).Check(
                    health_pb2.HealthCheckRequest(), timeout=1.0
                )
            except grpc.aio.AioRpcError:
                return False
        return bool(resp.status == health_pb2.HealthCheckResponse.SERVING)

    def _write_state(self) -> None:
        state = {
            c.name: {
                "pid": c.proc.pid if c.proc else None,
                "grpc_addr": c.grpc_addr,
                "http_addr": c.http_addr,
                "restarts": c.restarts,
                "healthy": c.healthy,
            }
            for c in self.children.values()
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_file)

    async def wait_healthy(self, timeout_s: float = 180.0) -> bool:
        """True once every child answers SERVING (False on timeout)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.children and all(c.healthy for c in self.children.values()):
                return True
            await asyncio.sleep(0.2)
        return False

    async def stop(self) -> None:
        """SIGTERM every child, SIGKILL what is left after the grace period."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        procs = [c.proc for c in self.children.values() if c.proc is not None and c.proc.poll() is None]
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self._grace_s
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(p.wait, max(0.0, deadline - time.monotonic()))
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.kill()
                await asyncio.to_thread(p.wait, 5)
        for c in self.children.values():
            if c.log_file is not None:
                c.log_file.close()
                c.log_file = None
        self._lock.release()


def describe(launcher: Launcher) -> str:
    """The process table printed by ``omega up --processes``."""
    lines = [f"{'process':<18} {'pid':>7}  address"]
    for c in launcher.children.values():
        pid = c.proc.pid if c.proc else "-"
        http = f"  http://{c.http_addr}" if c.http_addr else ""
        lines.append(f"{c.name:<18} {pid:>7}  {c.grpc_addr}{http}")
    for name, why in launcher.skipped.items():
        lines.append(f"{name:<18} {'-':>7}  not started: {why}")
    return "\n".join(lines)

