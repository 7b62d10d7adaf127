"""The embedded mesh on the production adapters: OMEGA_BUS=redis, OMEGA_DOCUMENTS=cosmos,
OMEGA_BLOBS=azure against the local servers (Redis, @vercel/cosmosdb-server, Azurite).

The failure test runs its own redis-server on a free port (never the shared one on 6379), with
an fsync-always append-only file so that stopping and restarting it keeps the streams, and
stops it while tickets flow.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from omega.tickets.v1 import ticket_pb2

from backends.composite import CompositeStore
from backends.settings import AZURITE_CONNECTION_STRING
from mesh.app import EmbeddedMesh
from mesh.demo import wait_settled
from sdk.client import OmegaClient, RetryPolicy
from tests.backends.conftest import (
    AZURITE,
    COSMOS,
    COSMOS_ENDPOINT,
    COSMOS_KEY,
    REDIS,
    require,
    unique,
)
from tests.conftest import RuleOfThumbTriager, make_settings, timeline_until

pytestmark = pytest.mark.timeout(120)


def generic(ticket_id: str, title: str) -> bytes:
    return json.dumps({"id": ticket_id, "title": title, "description": "Outlook mail is down"}).encode()


def production_env(monkeypatch: pytest.MonkeyPatch, redis_port: int) -> str:
    """OMEGA_ settings for the composite store on the local servers; returns the Cosmos db."""
    database = unique("omegae2e")
    env = {
        "OMEGA_BUS": "redis",
        "OMEGA_DOCUMENTS": "cosmos",
        "OMEGA_BLOBS": "azure",
        "OMEGA_REDIS_HOST": "127.0.0.1",
        "OMEGA_REDIS_PORT": str(redis_port),
        "OMEGA_REDIS_PREFIX": unique("omega-e2e-"),
        "OMEGA_COSMOS_ENDPOINT": COSMOS_ENDPOINT,
        "OMEGA_COSMOS_KEY": COSMOS_KEY,
        "OMEGA_COSMOS_DATABASE": database,
        "OMEGA_COSMOS_CREATE_CONTAINERS": "true",
        "OMEGA_BLOB_CONNECTION_STRING": AZURITE_CONNECTION_STRING,
        "OMEGA_BLOB_RAW_CONTAINER": unique("raw-"),
        "OMEGA_BLOB_AUDIT_CONTAINER": unique("audit-"),
        "OMEGA_BLOB_CREATE_CONTAINERS": "true",
        "OMEGA_OUTBOX_INTERVAL_S": "0.3",
        "OMEGA_OUTBOX_GRACE_S": "0.5",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return database


async def start_mesh(tmp_path: Path) -> EmbeddedMesh:
    settings = make_settings(tmp_path, visibility_timeout_s=1.5, workers=2)
    mesh = EmbeddedMesh(settings, triager=RuleOfThumbTriager(), components=[])
    await mesh.start()
    assert isinstance(mesh.store, CompositeStore)
    return mesh


def task_stacks() -> str:
    """Where every other asyncio task of this loop is waiting (pytest-timeout's dump shows
    threads only, and all of the mesh runs on this one)."""
    lines = []
    for task in asyncio.all_tasks():
        if task is asyncio.current_task():
            continue
        frames, awaiting = [], task.get_coro()
        while awaiting is not None and len(frames) < 12:  # down the await chain
            f = getattr(awaiting, "cr_frame", None) or getattr(awaiting, "gi_frame", None)
            if f is not None:
                frames.append(f"{f.f_code.co_filename.rsplit('/', 2)[-1]}:{f.f_lineno} {f.f_code.co_name}")
            awaiting = getattr(awaiting, "cr_await", None) or getattr(awaiting, "gi_yieldfrom", None)
        lines.append(f"  task {task.get_name()}: {' > '.join(frames) or '(not started)'}")
    return "\n".join(sorted(lines))


async def stop_mesh(mesh: EmbeddedMesh, database: str) -> None:
    store = mesh.store
    stopping = asyncio.ensure_future(mesh.stop(grace_s=0.5))
    done, _ = await asyncio.wait([stopping], timeout=30)
    if not done:
        pytest.fail(f"the mesh did not stop within 30 s; its tasks:\n{task_stacks()}")
    await stopping
    if isinstance(store, CompositeStore):
        if store._closing is not None:
            await asyncio.wait_for(store._closing, 30)
        # Drop the test's database (a fresh client: the store's is closed).
        from backends.cosmos.documents import CosmosDocuments

        docs = CosmosDocuments.connect(COSMOS_ENDPOINT, COSMOS_KEY, database)
        try:
            await docs.client.delete_database(database)
        except Exception:  # noqa: BLE001 - the emulator is in-memory anyway
            pass
        await docs.aclose()


async def pipeline_report(mesh: EmbeddedMesh, ticket_ids: list[str], states: list[int]) -> str:
    """What a failure needs to be diagnosed: each ticket's state, outbox and timeline, and each
    topic's stream, pending entries and parked retries on the bus."""
    store = mesh.store
    assert isinstance(store, CompositeStore)
    lines = ["tickets did not all reach TRIAGED:"]
    for ticket_id, state in zip(ticket_ids, states, strict=True):
        try:
            doc = await store.tickets.read_doc(mesh.settings.default_tenant, ticket_id) or {}
            events = await store.timeline.events(mesh.settings.default_tenant, ticket_id)
        except Exception as exc:  # noqa: BLE001 - a report must not hide the failure
            lines.append(f"  {ticket_id} {ticket_pb2.TicketState.Name(state)}: unreadable ({exc})")
            continue
        lines.append(
            f"  {ticket_id} {ticket_pb2.TicketState.Name(state)} applied_seq={doc.get('applied_seq')}"
            f" last_seq={doc.get('last_seq')} outbox={[(e['topic'], e['body'].get('seq')) for e in doc.get('outbox') or []]}"
            f" timeline={[(e.step, e.attempt, e.outcome, e.error[:60]) for e in events]}"
        )
    bus = store.bus.inner
    for topic in sorted(bus._topics):
        stream = bus.stream_key(topic)
        try:
            pending = await bus._r.xpending_range(stream, bus._group, min="-", max="+", count=50)
            lines.append(
                f"  bus {topic}: stream={await bus._r.xlen(stream)} parked={await bus._r.zcard(bus.delayed_key(topic))}"
                f" pending={[(p['message_id'], p['consumer'], p['time_since_delivered'], p['times_delivered']) for p in pending]}"
            )
        except Exception as exc:  # noqa: BLE001 - a report must not hide the failure
            lines.append(f"  bus {topic}: unreadable ({exc})")
    lines.append(f"  pipeline worker restarts: {mesh.runner.restarts if mesh.runner else '-'}")
    lines.append(task_stacks())
    return "\n".join(lines)


@pytest.fixture
def servers() -> None:
    for addr, what in ((REDIS, "redis"), (AZURITE, "azurite"), (COSMOS, "cosmosdb-server")):
        require(addr, what)


async def test_the_mesh_triages_tickets_on_redis_cosmos_and_blob_storage(
    servers: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = production_env(monkeypatch, REDIS[1])
    mesh = await start_mesh(tmp_path)
    try:
        async with OmegaClient(mesh.grpc_target) as client:
            results = [await client.ingest_ticket(generic(f"E-{n}", f"Outlook crash {n}")) for n in range(5)]
            assert not any(r.duplicate for r in results)
            dup = await client.ingest_ticket(generic("E-0", "Outlook crash 0"))
            assert dup.duplicate and dup.ticket_id == results[0].ticket_id
            for r in results:
                ticket = await wait_settled(client, r.ticket_id, timeout_s=30)
                assert ticket.state == ticket_pb2.TICKET_STATE_TRIAGED
        assert mesh.store is not None
        raw = await mesh.store.journal.get_raw(results[0].raw_payload_id)
        assert raw is not None and b"E-0" in raw.body
        events = await timeline_until(mesh, results[0].ticket_id, lambda ev: len(ev) >= 2)
        steps = [e.step for e in events]
        assert steps == ["ticket.raw", "ticket.normalized"]
    finally:
        await stop_mesh(mesh, database)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, *, open_: bool, within_s: float = 10.0) -> None:
    """Wait until redis on ``port`` answers PING (``open_``) or refuses connections. An open
    port is not enough: while it replays its append-only file, Redis answers -LOADING."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                up = conn.recv(64).startswith(b"+PONG")
        except OSError:
            up = False
        if up == open_:
            return
        time.sleep(0.05)
    raise TimeoutError(f"redis on {port} did not {'answer' if open_ else 'close'}")


class PrivateRedis:
    """A redis-server of this test's own, persisted to an fsync-always append-only file."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                "redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port, open_=True)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None
        wait_port(self.port, open_=False)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (run .ci/services.sh)")
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        if server.proc is not None:
            server.proc.kill()
            server.proc.wait(timeout=10)


async def test_ingest_is_unavailable_while_redis_is_down_and_every_accepted_ticket_completes(
    servers: None, private_redis: PrivateRedis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = production_env(monkeypatch, private_redis.port)
    mesh = await start_mesh(tmp_path)
    accepted: list[str] = []
    refused: list[bytes] = []
    try:
        async with OmegaClient(mesh.grpc_target, retry=RetryPolicy(attempts=1)) as client:
            for n in range(6):
                accepted.append((await client.ingest_ticket(generic(f"F-{n}", f"Mail down {n}"))).ticket_id)
            await asyncio.to_thread(private_redis.stop)  # while those tickets are in flight
            for n in range(6, 9):
                payload = generic(f"F-{n}", f"Mail down {n}")
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await client.ingest_ticket(payload)
                assert err.value.code() == grpc.StatusCode.UNAVAILABLE
                refused.append(payload)
            await asyncio.to_thread(private_redis.start)
            # The PSA retries what was refused; new tickets arrive too.
            for payload in refused:
                res = await client.ingest_ticket(payload)
                assert not res.duplicate
                accepted.append(res.ticket_id)
            accepted.append((await client.ingest_ticket(generic("F-9", "Mail down 9"))).ticket_id)
            # One deadline for all (well inside the test's timeout), so that a ticket that never
            # settles fails with the state of every ticket and of the bus, not a bare timeout.
            deadline = time.monotonic() + 45
            states = [
                (await wait_settled(client, t, timeout_s=max(0.0, deadline - time.monotonic()))).state
                for t in accepted
            ]
            if states != [ticket_pb2.TICKET_STATE_TRIAGED] * len(accepted):
                pytest.fail(await pipeline_report(mesh, accepted, states))
        assert len(set(accepted)) == 10
    finally:
        await stop_mesh(mesh, database)

