"""`omega up --processes`: kill -9 a triage worker process and a service process while 1,000
tickets are in flight; every ticket reaches a final state exactly once and the launcher brings
the killed processes back.

Real command, real subprocesses, the real local Titan on lexical features (trained on first
start), so this is the slowest mesh test (~1-3 min on a loaded 2-core machine). The Context
Server is killed when the mesh has one; until it does, the Orchestrator (which runs the
normalize step) is killed instead."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sdk.client import IngestResult, OmegaClient

N = 1000
REPO = Path(__file__).resolve().parents[2]


def model_cache() -> Path:
    """Where the demo model trained by a previous run is kept (gitignored), keyed by the code
    and data it was trained from, so the triage process does not train it again each run."""
    h = hashlib.sha256()
    for path in sorted([*REPO.glob("titans/local/*.py"), *REPO.glob("demo/history/**/*")]):
        if path.is_file():
            h.update(path.name.encode() + path.read_bytes())
    return REPO / ".omega" / "test-cache" / f"process-mesh-lexical-{h.hexdigest()[:16]}"
FINAL = ("TRIAGED", "ROUTED", "PROPOSED", "RESOLVED", "NEEDS_REVIEW", "FAILED")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def processes(data: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((data / "processes.json").read_text()))
    except (OSError, ValueError):
        return {}


def query(data: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{data / 'omega.db'}?mode=ro", uri=True, timeout=30) as db:
        return list(db.execute(sql).fetchall())


async def until(predicate: Any, timeout_s: float, what: str, launcher: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert launcher.poll() is None, "the launcher exited"
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.2)


def all_healthy(data: Path) -> bool:
    procs = processes(data)
    return bool(procs) and all(p["healthy"] for p in procs.values())


@pytest.mark.timeout(420)
async def test_killed_processes_come_back_and_every_ticket_settles_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cache = model_cache()
    if cache.exists():
        shutil.copytree(cache, data / "models")
    grpc_port, http_port = free_port(), free_port()
    env = dict(os.environ)
    env.update(
        OMEGA_GRPC_ADDR=f"127.0.0.1:{grpc_port}", OMEGA_HTTP_ADDR=f"127.0.0.1:{http_port}",
        OMEGA_DATA_DIR=str(data), OMEGA_LOG_LEVEL="WARNING",
        # The local Titan on lexical features: this test is about processes, not triage quality,
        # and 1,000 MiniLM embeddings take minutes on a busy 2-core machine.
        OMEGA_TRIAGE_EMBEDDINGS="false",
    )
    log = open(tmp_path / "launcher.log", "wb")  # noqa: SIM115
    launcher = subprocess.Popen(  # noqa: ASYNC220 - started once, then polled
        [sys.executable, "-m", "mesh.cli", "up", "--processes"], env=env, stdout=log, stderr=log
    )
    try:
        await until(lambda: all_healthy(data), 240, "every child SERVING", launcher)
        before = processes(data)
        victim = "context-server" if "context-server" in before else "orchestrator"

        payloads = [
            json.dumps({"id": f"P-{i}", "title": f"Printer {i} is jammed",
                        "description": "paper jam in tray 2"}).encode()
            for i in range(N)
        ]
        async with OmegaClient(f"127.0.0.1:{grpc_port}", timeout_s=60) as client:
            results = await asyncio.gather(
                *(client.batch_ingest(payloads[i : i + 250]) for i in range(0, N, 250))
            )
        accepted = [r for batch in results for r in batch if isinstance(r, IngestResult)]
        assert len(accepted) == N

        # Kill while tickets are being triaged: some done, many still queued.
        def triage_started() -> bool:
            done = query(data, "SELECT COUNT(*) FROM ticket_events WHERE step='ticket.normalized'")
            return bool(done[0][0] > 0)

        await until(triage_started, 120, "triage started", launcher)
        waiting = query(data, "SELECT COUNT(*) FROM messages WHERE topic='ticket.normalized'")[0][0]
        assert waiting > 0, "the kill came too late to prove anything"
        os.kill(before["triage"]["pid"], signal.SIGKILL)
        os.kill(before[victim]["pid"], signal.SIGKILL)

        def came_back() -> bool:
            now = processes(data)
            return all(
                now[n]["pid"] != before[n]["pid"] and now[n]["restarts"] >= 1 and now[n]["healthy"]
                for n in ("triage", victim)
            )

        await until(came_back, 180, "killed processes restarted and SERVING", launcher)

        def settled() -> bool:
            marks = ",".join(f"'{s}'" for s in FINAL)
            rows = query(data, f"SELECT COUNT(*) FROM tickets WHERE state IN ({marks})")
            return bool(rows[0][0] == N)

        await until(settled, 240, "every ticket in a final state", launcher)
    finally:
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=60)
        log.close()

    assert launcher.returncode == 0
    if not cache.exists():
        shutil.copytree(data / "models", cache)
    states = dict(query(data, "SELECT state, COUNT(*) FROM tickets GROUP BY state"))
    assert sum(states.values()) == N and "FAILED" not in states
    twice = query(
        data,
        "SELECT ticket_id, step, COUNT(*) FROM ticket_events WHERE outcome='ok'"
        " GROUP BY ticket_id, step HAVING COUNT(*) > 1",
    )
    assert twice == [], "a step took effect twice for a ticket"
    after = processes(data)
    for name in ("triage", victim):
        assert after[name]["restarts"] >= 1
    for proc in after.values():  # the launcher stopped every child
        with pytest.raises(ProcessLookupError):
            os.kill(proc["pid"], 0)
