"""Kill `omega up` with SIGKILL mid-flight and start it again: nothing accepted is lost.

This runs the real command in a subprocess (real model, real store), so it is one of the slower
tests (~30 s: the first start trains the default demo model)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from omega.tickets.v1 import ticket_pb2

from mesh.demo import SETTLED
from sdk.client import IngestResult, OmegaClient

N = 120


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_omega(data: Path, grpc_port: int, http_port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        OMEGA_GRPC_ADDR=f"127.0.0.1:{grpc_port}",
        OMEGA_HTTP_ADDR=f"127.0.0.1:{http_port}",
        OMEGA_DATA_DIR=str(data),
        OMEGA_LOG_LEVEL="WARNING",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "mesh.cli", "up"], env=env, stdout=subprocess.DEVNULL,
        stderr=open(data.parent / f"omega-{time.time_ns()}.log", "wb"),  # noqa: SIM115
    )


async def wait_serving(target: str, proc: subprocess.Popen[bytes], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    async with grpc.aio.insecure_channel(target) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        while time.monotonic() < deadline:
            assert proc.poll() is None, "omega up exited early"
            try:
                if (await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)).status == 1:
                    return
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError("omega up did not become SERVING")


async def test_every_accepted_ticket_finishes_after_sigkill(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    grpc_port, http_port = free_port(), free_port()
    target = f"127.0.0.1:{grpc_port}"
    payloads = [
        json.dumps({"id": f"K-{i}", "title": f"Printer {i} is jammed", "description": "paper jam tray 2"}).encode()
        for i in range(N)
    ]
    first = start_omega(data, grpc_port, http_port)
    try:
        await wait_serving(target, first)
        async with OmegaClient(target) as client:
            results = await client.batch_ingest(payloads[: N // 2])
            results += await client.batch_ingest(payloads[N // 2 :])
        accepted = [r.ticket_id for r in results if isinstance(r, IngestResult)]
        assert len(accepted) == N
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

    # Mid-flight: the pipeline had not finished (the first start trains the model on first use).
    with sqlite3.connect(data / "omega.db") as db:
        pending = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    assert pending > 0, "the kill came too late to prove anything"

    second = start_omega(data, grpc_port, http_port)
    try:
        await wait_serving(target, second)
        async with OmegaClient(target) as client:
            deadline = time.monotonic() + 120
            while True:
                tickets: list[ticket_pb2.Ticket] = []
                token = ""
                while True:
                    page, token = await client.list_tickets(page_size=500, page_token=token)
                    tickets += page
                    if not token:
                        break
                if all(t.state in SETTLED for t in tickets) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            # Redelivering the same payloads after the restart creates nothing new.
            again = await client.batch_ingest(payloads[:10])
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)

    assert sorted(t.id for t in tickets) == sorted(accepted)
    assert all(t.state in SETTLED and t.state != ticket_pb2.TICKET_STATE_FAILED for t in tickets)
    assert all(isinstance(r, IngestResult) and r.duplicate for r in again)
    with sqlite3.connect(data / "omega.db") as db:
        twice = db.execute(
            "SELECT ticket_id, COUNT(*) FROM ticket_events WHERE step='ticket.normalized'"
            " AND outcome='ok' GROUP BY ticket_id HAVING COUNT(*) > 1"
        ).fetchall()
        leftover = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    assert twice == [], "a ticket was triaged twice"
    assert leftover == 0
