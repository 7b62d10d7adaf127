"""The Bus contract, run on every bus adapter: SQLite, Redis Streams (real Redis), and Service
Bus over an in-process stand-in of the SDK's client objects (servicebus_standin.py: it does NOT
exercise the AMQP wire; the opt-in test at the bottom runs against a real namespace).

Waiting for a visibility timeout or a retry delay is waiting for time itself: those tests poll
``lease`` until a bounded deadline instead of sleeping a fixed time.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest

from backends.records import Message
from tests.backends.conftest import VISIBILITY_S

pytestmark = pytest.mark.timeout(30)
TOPIC, OTHER = "ticket.raw", "ticket.normalized"
LONG = 30.0  # a visibility that does not expire during a test


async def lease_until(bus: Any, topics: list[str], *, within_s: float, visibility_s: float = LONG) -> list[Message]:
    deadline = time.monotonic() + within_s
    while True:
        got: list[Message] = await bus.lease(topics, 10, visibility_s)
        if got or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.02)


async def test_publish_then_lease_returns_the_message(bus: Any) -> None:
    await bus.publish(TOPIC, "tkt_1", {"tenant": "t", "ticket_id": "tkt_1", "seq": 1})
    got = await lease_until(bus, [TOPIC], within_s=2)
    assert [(m.topic, m.key, m.body["seq"], m.attempts) for m in got] == [(TOPIC, "tkt_1", 1, 1)]


async def test_lease_reads_only_the_topics_asked(bus: Any) -> None:
    await bus.publish(OTHER, "tkt_2", {"n": 2})
    assert await bus.lease([TOPIC], 10, LONG) == []
    got = await lease_until(bus, [OTHER], within_s=2)
    assert [m.key for m in got] == ["tkt_2"]


async def test_lease_respects_the_limit_and_keeps_order_per_key(bus: Any) -> None:
    for n in range(5):
        await bus.publish(TOPIC, "tkt_same", {"n": n})
    first = await bus.lease([TOPIC], 3, LONG)
    rest = await lease_until(bus, [TOPIC], within_s=2)
    assert [m.body["n"] for m in first] == [0, 1, 2]
    assert [m.body["n"] for m in rest] == [3, 4]


async def test_a_leased_message_is_invisible_until_acked(bus: Any) -> None:
    await bus.publish(TOPIC, "tkt_3", {"n": 3})
    [m] = await lease_until(bus, [TOPIC], within_s=2)
    assert await bus.lease([TOPIC], 10, LONG) == []
    await bus.ack(m)
    assert await bus.lease([TOPIC], 10, VISIBILITY_S) == []


async def test_an_expired_lease_is_delivered_again_with_attempts_counted(bus: Any) -> None:
    await bus.publish(TOPIC, "tkt_4", {"n": 4})
    [first] = await lease_until(bus, [TOPIC], within_s=2, visibility_s=VISIBILITY_S)
    again = await lease_until(bus, [TOPIC], within_s=VISIBILITY_S * 10, visibility_s=VISIBILITY_S)
    assert [(m.body["n"], m.attempts) for m in again] == [(4, 2)]
    assert again[0].lease != first.lease


async def test_a_late_ack_after_the_lease_expired_does_not_remove_the_new_delivery(bus: Any) -> None:
    await bus.publish(TOPIC, "tkt_5", {"n": 5})
    [stale] = await lease_until(bus, [TOPIC], within_s=2, visibility_s=VISIBILITY_S)
    [fresh] = await lease_until(bus, [TOPIC], within_s=VISIBILITY_S * 10, visibility_s=VISIBILITY_S)
    await bus.ack(stale)  # too late: someone else holds it now
    # Every consumer leases with the same visibility (Redis reclaims by the claimer's).
    [third] = await lease_until(bus, [TOPIC], within_s=VISIBILITY_S * 10, visibility_s=VISIBILITY_S)
    assert third.body == {"n": 5} and third.attempts == 3
    await bus.ack(third)
    await bus.ack(fresh)
    assert await bus.lease([TOPIC], 10, LONG) == []


async def test_retry_redelivers_after_the_delay_with_the_next_attempt(bus: Any) -> None:
    await bus.publish(TOPIC, "tkt_6", {"n": 6})
    [m] = await lease_until(bus, [TOPIC], within_s=2)
    started = time.monotonic()
    await bus.retry(m, 0.3, "RuntimeError: hiccup")
    assert await bus.lease([TOPIC], 10, LONG) == []  # not before its delay
    [again] = await lease_until(bus, [TOPIC], within_s=5)
    assert time.monotonic() - started >= 0.25
    assert (again.body, again.key, again.attempts) == ({"n": 6}, "tkt_6", 2)


async def test_dead_letter_removes_the_message_and_keeps_the_reason(bus: Any) -> None:
    body = {"tenant": "acme", "ticket_id": "tkt_7", "raw_payload_id": "raw_7"}
    await bus.publish(TOPIC, "tkt_7", body)
    [m] = await lease_until(bus, [TOPIC], within_s=2)
    dead = await bus.dead_letter(
        m, tenant="acme", stage="ticket.raw", reason="cannot normalize", ticket_id="tkt_7", source="autotask"
    )
    assert (dead.tenant, dead.stage, dead.reason, dead.ticket_id) == ("acme", "ticket.raw", "cannot normalize", "tkt_7")
    assert (dead.raw_payload_id, dead.topic, dead.body, dead.attempts) == ("raw_7", TOPIC, body, 1)
    assert await lease_until(bus, [TOPIC], within_s=VISIBILITY_S * 2, visibility_s=VISIBILITY_S) == []


async def test_wait_for_work_returns_when_a_message_is_published(bus: Any) -> None:
    waiter = asyncio.create_task(bus.wait_for_work(10.0))
    await asyncio.sleep(0)
    started = time.monotonic()
    await bus.publish(TOPIC, "tkt_8", {"n": 8})
    await asyncio.wait_for(waiter, 5.0)
    assert time.monotonic() - started < 5.0


async def test_redis_dead_letters_are_kept_in_a_stream(tmp_path: Any) -> None:
    """Redis-specific: the dead-letter record (with its reason) survives in the dead stream."""
    from tests.backends.conftest import REDIS, drop_redis_prefix, redis_bus, require

    require(REDIS, "redis")
    bus = await redis_bus()
    try:
        await bus.publish(TOPIC, "tkt_9", {"tenant": "acme"})
        [m] = await lease_until(bus, [TOPIC], within_s=2)
        dead = await bus.dead_letter(m, tenant="acme", stage="ticket.raw", reason="bad", ticket_id="tkt_9", source="x")
        log = await bus.dead_letter_log()
        assert [(d.id, d.reason) for d in log] == [(dead.id, "bad")]
    finally:
        await drop_redis_prefix(bus)


async def test_redis_reclaims_a_stale_entry_behind_a_long_head_of_busy_ones() -> None:
    """Redis-specific (real Redis): XAUTOCLAIM looks at no more than 10 x count pending entries a
    call. 400 entries another consumer is still working on (recently delivered) sit in front of
    one it abandoned; leasing 8 at a time (80 looked at per call), the abandoned one is reclaimed
    within the calls it takes to scan past the head, not only once the head goes idle too."""
    from tests.backends.conftest import REDIS, drop_redis_prefix, redis_bus, require

    require(REDIS, "redis")
    bus = await redis_bus()
    visibility_s = 3.0
    try:
        for n in range(401):
            await bus.publish(TOPIC, f"tkt_{n}", {"n": n})
        stream, r = bus.stream_key(TOPIC), bus._r
        await bus._ensure_group(TOPIC)
        got = await r.xreadgroup(bus._group, "other", {stream: ">"}, count=401)
        ids = [entry_id for entry_id, _ in got[0][1]]
        await asyncio.sleep(visibility_s + 0.2)  # all 401 are now idle for longer than visibility
        await r.xclaim(stream, bus._group, "other", 0, ids[:400], justid=True)  # the head: busy again
        found: list[int] = []
        for _ in range(8):  # 400 busy entries need 5 calls of 80; the head is idle again only in 3 s
            found += [m.body["n"] for m in await bus.lease([TOPIC], 8, visibility_s)]
            if found:
                break
        assert found == [400]
    finally:
        await drop_redis_prefix(bus)


async def test_servicebus_messages_are_sdk_messages_with_the_ticket_as_session() -> None:
    """Service Bus mapping (stand-in of the SDK client, not the wire): the adapter sends the
    SDK's own ServiceBusMessage to topic ``ticket-raw`` with session = ticket, JSON body,
    attempts in application properties; a retry is a scheduled copy; a dead letter keeps the
    stage as reason and the error as description."""
    from azure.servicebus import ServiceBusMessage

    from backends.servicebus.bus import ServiceBusBus
    from tests.backends.servicebus_standin import StandInBroker, StandInClient

    broker = StandInBroker(LONG, ["pipeline", "analytics"])
    bus = ServiceBusBus(StandInClient(broker), consumer="pipeline", receive_wait_s=0.0)
    await bus.publish(TOPIC, "tkt_10", {"n": 10})
    topic, sent = broker.sent[0]
    assert isinstance(sent, ServiceBusMessage)
    assert (topic, sent.session_id, sent.content_type) == ("ticket-raw", "tkt_10", "application/json")
    assert sent.application_properties == {"omega_attempts": 0}
    assert str(sent) == '{"n":10}'
    [m] = await bus.lease([TOPIC], 10, LONG)
    await bus.retry(m, 60.0, "boom")
    _, copy = broker.sent[1]
    [parked] = broker.topics["ticket-raw"]["pipeline"].messages  # the original is completed
    assert parked.visible_at > time.time() + 50  # scheduled, not sent now
    assert copy.application_properties == {"omega_attempts": 1}
    await bus.publish(TOPIC, "tkt_11", {"n": 11})
    [m2] = await lease_until(bus, [TOPIC], within_s=2)
    await bus.dead_letter(m2, tenant="t", stage="ticket.raw", reason="cannot normalize", ticket_id="tkt_11", source="x")
    [(stored, reason, description)] = broker.topics["ticket-raw"]["pipeline"].dead
    assert (stored.session_id, reason, description) == ("tkt_11", "ticket.raw", "cannot normalize")
    # Each subscription has its own copy; a bus mapped to "analytics" reads that one.
    other = ServiceBusBus(
        StandInClient(broker), consumer="pipeline", subscriptions={TOPIC: "analytics"}, receive_wait_s=0.0
    )
    seen = await lease_until(other, [TOPIC], within_s=2)
    assert sorted(m.key for m in seen) == ["tkt_10", "tkt_11"]


@pytest.mark.skipif(
    not os.environ.get("OMEGA_TEST_SERVICEBUS"),
    reason="opt-in: set OMEGA_TEST_SERVICEBUS to a Service Bus connection string whose namespace "
    "has topic ticket-raw with a session subscription named 'pipeline'",
)
async def test_servicebus_against_a_real_namespace() -> None:
    """The publish/lease/retry/ack cycle over the real AMQP wire (opt-in)."""
    from backends.servicebus.bus import ServiceBusBus

    bus = ServiceBusBus.from_connection_string(os.environ["OMEGA_TEST_SERVICEBUS"], consumer="pipeline")
    try:
        key = f"tkt_{time.time_ns()}"
        await bus.publish(TOPIC, key, {"probe": key})
        got = [m for m in await lease_until(bus, [TOPIC], within_s=20) if m.key == key]
        assert got and got[0].attempts == 1
        await bus.retry(got[0], 1.0, "probe")
        again = [m for m in await lease_until(bus, [TOPIC], within_s=30) if m.key == key]
        assert again and again[0].attempts == 2
        await bus.ack(again[0])
    finally:
        await bus.aclose()
