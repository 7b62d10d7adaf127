"""The pipeline's delivery guarantees: retries with backoff, dead-letter after N tries, replay."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import pytest
from omega.tickets.v1 import ticket_pb2

from mesh.app import EmbeddedMesh
from mesh.demo import wait_settled
from sdk.client import OmegaClient
from tests.conftest import RuleOfThumbTriager, eventually, make_settings, timeline_until


@pytest.fixture
def mesh_components() -> list[object]:
    """Only ingest and the pipeline: no downstream team moves tickets past TRIAGED here."""
    return []


def generic(ticket_id: str, title: str, **extra: str) -> bytes:
    return json.dumps({"id": ticket_id, "title": title, "description": "", **extra}).encode()


async def test_a_failing_step_is_retried_until_it_succeeds(
    mesh: EmbeddedMesh, triager: RuleOfThumbTriager
) -> None:
    triager.fail_times = 2
    async with OmegaClient(mesh.grpc_target) as client:
        res = await client.ingest_ticket(generic("R-1", "Outlook crashes on start"))
        ticket = await wait_settled(client, res.ticket_id, timeout_s=10)
    assert ticket.state == ticket_pb2.TICKET_STATE_TRIAGED
    assert triager.calls == 3
    assert mesh.store is not None
    events = await timeline_until(mesh, res.ticket_id, lambda ev: len(ev) >= 4)
    steps = [(e.step, e.outcome) for e in events]
    assert steps == [
        ("ticket.raw", "ok"),
        ("ticket.normalized", "retry"),
        ("ticket.normalized", "retry"),
        ("ticket.normalized", "ok"),
    ]


async def test_a_step_that_keeps_failing_is_dead_lettered_and_replayable(tmp_path: Path) -> None:
    triager = RuleOfThumbTriager()
    triager.fail_times = 3
    settings = make_settings(tmp_path, max_attempts=3)
    m = EmbeddedMesh(settings, triager=triager, components=[])
    await m.start()
    try:
        async with OmegaClient(m.grpc_target) as client:
            res = await client.ingest_ticket(generic("D-1", "Server room is too hot"))
            ticket = await wait_settled(client, res.ticket_id, timeout_s=10)
            assert ticket.state == ticket_pb2.TICKET_STATE_FAILED
            assert "triage backend hiccup" in ticket.error
            dead = await client.list_dead_letters()
            assert len(dead) == 1 and dead[0].stage == "ticket.normalized"
            assert dead[0].ticket_id == res.ticket_id and dead[0].attempts == 3
            # The backend recovered (fail_times is used up): replay finishes the journey.
            assert await client.replay_dead_letter(dead[0].id) == res.ticket_id
            assert m.store is not None
            # FAILED is settled, so wait on the timeline for the replayed step instead.
            for _ in range(200):
                ticket = await client.get_ticket(res.ticket_id)
                if ticket.state == ticket_pb2.TICKET_STATE_TRIAGED:
                    break
                await m.store.bus.wait_for_work(0.05)
            assert ticket.state == ticket_pb2.TICKET_STATE_TRIAGED
            assert ticket.error == ""
    finally:
        await m.stop(grace_s=0.5)


async def test_an_update_with_new_text_is_triaged_again_and_a_status_change_is_not(
    mesh: EmbeddedMesh, triager: RuleOfThumbTriager
) -> None:
    async with OmegaClient(mesh.grpc_target) as client:
        first = await client.ingest_ticket(generic("U-1", "Laptop will not boot", version="1"))
        await wait_settled(client, first.ticket_id, timeout_s=10)
        calls = triager.calls
        await client.ingest_ticket(generic("U-1", "Laptop will not boot", version="2", status="In Progress"))
        second = await client.ingest_ticket(generic("U-1", "Outlook will not start", version="3"))
        assert second.ticket_id == first.ticket_id
        for _ in range(200):
            t = await client.get_ticket(first.ticket_id)
            # Both updates may be applied in either order (an older payload that arrives late
            # only fills what the newer one did not say): wait for both to have landed.
            if t.triage.category.label == "Email" and t.source_status == "In Progress":
                break
            assert mesh.store is not None
            await mesh.store.bus.wait_for_work(0.05)
    assert mesh.store is not None
    steps = [(e.step, e.outcome, e.error) for e in await mesh.store.timeline.events("default", first.ticket_id)]
    assert t.title == "Outlook will not start" and t.source_status == "In Progress", steps
    assert t.triage.category.label == "Email"
    assert triager.calls == calls + 1  # the status-only update did not re-triage


async def test_a_delete_event_marks_the_ticket_deleted(mesh: EmbeddedMesh) -> None:
    async with OmegaClient(mesh.grpc_target) as client:
        res = await client.ingest_ticket(generic("X-1", "Old ticket", version="1"))
        await wait_settled(client, res.ticket_id, timeout_s=10)
        await client.ingest_ticket(generic("X-1", "Old ticket", version="2", event="deleted"))
        for _ in range(200):
            t = await client.get_ticket(res.ticket_id)
            if t.state == ticket_pb2.TICKET_STATE_DELETED:
                break
            assert mesh.store is not None
            await mesh.store.bus.wait_for_work(0.05)
    assert t.state == ticket_pb2.TICKET_STATE_DELETED


async def test_workers_hold_back_during_an_ingest_burst_but_never_starve(
    mesh: EmbeddedMesh,
) -> None:
    """While 8+ ingest calls are in flight the workers lease nothing new (accepting comes
    first), and resume as soon as the burst ends; a burst that never ends still lets work
    through after ``max_yield_s``. The burst is the ingest service's own in-flight counter."""
    assert mesh.ctx is not None and mesh.runner is not None
    ingest = mesh.ctx.services["ingest"]
    ingest.in_flight = 50
    try:
        async with OmegaClient(mesh.grpc_target) as client:
            res = await client.ingest_ticket(generic("B-1", "VPN down for the whole office"))
            await asyncio.sleep(0.6)
            held = await client.get_ticket(res.ticket_id)
            assert held.state == ticket_pb2.TICKET_STATE_RECEIVED
            ingest.in_flight = 0
            ticket = await wait_settled(client, res.ticket_id, timeout_s=10)
            assert ticket.state == ticket_pb2.TICKET_STATE_TRIAGED

            mesh.runner._policy = dataclasses.replace(mesh.runner._policy, max_yield_s=0.2)
            ingest.in_flight = 50  # a burst that does not end
            res2 = await client.ingest_ticket(generic("B-2", "Printer jams on every page"))
            ticket2 = await wait_settled(client, res2.ticket_id, timeout_s=10)
            assert ticket2.state == ticket_pb2.TICKET_STATE_TRIAGED
            assert mesh.runner.yields >= 2
    finally:
        ingest.in_flight = 0


class _Noted:
    """A step that notes each ticket it handles."""

    name = "ticket.raw"

    def __init__(self) -> None:
        self.seen: set[str] = set()

    async def handle(self, body: dict[str, object]) -> str:
        self.seen.add(str(body["ticket_id"]))
        return "ok"


class _Faulty:
    """The real embedded bus, whose wait for work first raises an error that escapes a worker,
    then a CancelledError that nobody asked for (as a library's timeout can leak one)."""

    def __init__(self, inner: object) -> None:
        self._inner = inner
        self.faults: list[BaseException] = [RuntimeError("selector broke"), asyncio.CancelledError()]

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    async def wait_for_work(self, timeout_s: float) -> None:
        if self.faults:
            raise self.faults.pop(0)
        await self._inner.wait_for_work(timeout_s)  # type: ignore[attr-defined]


async def test_a_worker_that_dies_is_started_again_and_its_work_still_gets_done(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from backends.sqlite.adapters import EmbeddedStore
    from teams.pipeline import DeliveryPolicy, PipelineRunner

    store = EmbeddedStore.open(tmp_path / "omega.db")
    faulty = _Faulty(store.bus)
    store.bus = faulty  # type: ignore[assignment]
    step = _Noted()
    runner = PipelineRunner(store, [step], DeliveryPolicy(idle_poll_s=0.05, visibility_s=2.0))
    runner.start(1)  # one worker: without a restart nothing below would ever be handled
    try:
        await eventually(lambda: not faulty.faults and runner.restarts == 2)
        assert runner.restarts == 2
        for n in range(3):
            await store.bus.publish("ticket.raw", f"t{n}", {"tenant": "acme", "ticket_id": f"t{n}"})
        await eventually(lambda: len(step.seen) == 3)
        assert step.seen == {"t0", "t1", "t2"}
        assert "pipeline worker 0 crashed; starting it again" in caplog.text
        assert "pipeline worker 0 was cancelled from inside" in caplog.text
    finally:
        workers = list(runner._tasks)
        await runner.stop()
        store.close()
    # stop() ends the supervised workers: a real cancellation is not restarted.
    assert workers and all(t.done() for t in workers)


async def test_a_delivery_cancelled_from_inside_is_delivered_again_when_its_lease_expires(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A step whose store client raises a CancelledError nobody asked for (aiohttp can, on a
    dropped connection): the delivery is logged, the worker goes on, and the message comes back
    when its lease expires, on the real embedded bus."""
    from backends.sqlite.adapters import EmbeddedStore
    from teams.pipeline import DeliveryPolicy, PipelineRunner

    class FlakyOnce(_Noted):
        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        async def handle(self, body: dict[str, object]) -> str:
            self.calls += 1
            if self.calls == 1:
                raise asyncio.CancelledError
            return await super().handle(body)

    store = EmbeddedStore.open(tmp_path / "omega.db")
    step = FlakyOnce()
    runner = PipelineRunner(store, [step], DeliveryPolicy(idle_poll_s=0.05, visibility_s=0.5))
    runner.start(1)
    try:
        await store.bus.publish("ticket.raw", "t0", {"tenant": "acme", "ticket_id": "t0"})
        await eventually(lambda: bool(step.seen), timeout_s=6.0)
        assert step.seen == {"t0"} and step.calls == 2
        assert "was cancelled from inside; its lease will expire" in caplog.text
        assert runner.restarts == 0  # the worker itself was never affected
    finally:
        await runner.stop()
        store.close()
