"""The Bus port over Azure Service Bus (azure-servicebus, async).

- Topics per pipeline stage: ``ticket.raw`` → topic ``ticket-raw`` (``.`` becomes ``-``); each
  consumer reads its own subscription, named after the consumer (``OMEGA_BUS_CONSUMER``).
- Sessions keyed by ticket: every message's ``session_id`` is its key (the ticket id), so the
  messages of one ticket are delivered in order, to one receiver at a time. Subscriptions must
  be created with ``requiresSession: true`` (Bicep).
- Session receivers: each process holds up to ``max_sessions`` sessions per topic; a message
  whose lock expired is redelivered to its session's holder; a drained session with nothing in
  flight is released. Session locks are not renewed here: keep the subscription's lock
  duration above the longest step (or add an ``AutoLockRenewer``).
- Peek-lock: ``lease`` receives with a lock; ``ack`` completes, a lost lock (the lease expired
  and someone else holds the message now) makes a late ack a no-op, as in the other adapters.
  The lock duration is the subscription's (Bicep), not the ``visibility_s`` of the call.
- Scheduled retry: Service Bus cannot delay a locked message in place, so ``retry`` schedules a
  copy (``schedule_messages``, same session, attempts carried in ``omega_attempts``) and then
  completes the original; a crash in between delivers twice (at-least-once; steps are
  idempotent).
- Dead-letter: ``dead_letter_message`` with the reason (the stage) and the error description;
  the composite store also keeps the record in Cosmos for listing and replay.

There is no local Service Bus server; tests/backends/test_contract_bus.py runs the shared
contract against an in-process stand-in of the SDK client (not the AMQP wire) and an opt-in test
runs it against a real namespace when OMEGA_TEST_SERVICEBUS is set. See docs/backends.md.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.servicebus import NEXT_AVAILABLE_SESSION, ServiceBusMessage, ServiceBusReceiveMode
from azure.servicebus.exceptions import (
    MessageAlreadySettled,
    MessageLockLostError,
    OperationTimeoutError,
    ServiceBusConnectionError,
    ServiceBusError,
    SessionLockLostError,
)

from backends.ids import new_id
from backends.records import DeadLetterRecord, Message
from backends.wakeups import LocalWakeups
from federation.errors import Unavailable

log = logging.getLogger(__name__)

ATTEMPTS = "omega_attempts"
_LOST = (MessageLockLostError, SessionLockLostError, MessageAlreadySettled)


def sb_topic(topic: str) -> str:
    """Service Bus entity name of a pipeline topic (``ticket.raw`` → ``ticket-raw``)."""
    return topic.replace(".", "-")


def to_service_bus(key: str, body: dict[str, Any], *, attempts: int = 0) -> ServiceBusMessage:
    """The outgoing message: JSON body, session = key (ordering per ticket)."""
    return ServiceBusMessage(
        json.dumps(body, separators=(",", ":")),
        session_id=key,
        content_type="application/json",
        application_properties={ATTEMPTS: attempts},
    )


def _body(received: Any) -> dict[str, Any]:
    raw = b"".join(bytes(part) for part in received.body)
    loaded: dict[str, Any] = json.loads(raw)
    return loaded


def _prior_attempts(received: Any) -> int:
    props = received.application_properties or {}
    value = props.get(ATTEMPTS, props.get(ATTEMPTS.encode(), 0))
    return int(value or 0)


class ServiceBusBus:
    """At-least-once Bus over Service Bus topics with session subscriptions."""

    def __init__(
        self,
        client: Any,
        *,
        consumer: str,
        subscriptions: dict[str, str] | None = None,
        receive_wait_s: float = 0.5,
        max_sessions: int = 16,
    ) -> None:
        self._client = client
        self._consumer = consumer
        self._subscriptions = dict(subscriptions or {})
        self._wait = receive_wait_s
        self._senders: dict[str, Any] = {}
        self._open: dict[str, list[Any]] = {}  # topic → session receivers held now
        self._outstanding: dict[int, int] = {}  # receiver → leased, unsettled messages
        self._max_sessions = max_sessions
        self._leases: dict[str, tuple[Any, Any]] = {}
        self.wakeups = LocalWakeups()

    @classmethod
    def from_connection_string(
        cls, conn: str, *, consumer: str, subscriptions: dict[str, str] | None = None
    ) -> ServiceBusBus:
        from azure.servicebus.aio import ServiceBusClient

        return cls(
            ServiceBusClient.from_connection_string(conn), consumer=consumer, subscriptions=subscriptions
        )

    @classmethod
    def from_credential(
        cls, fqdn: str, credential: Any, *, consumer: str, subscriptions: dict[str, str] | None = None
    ) -> ServiceBusBus:
        from azure.servicebus.aio import ServiceBusClient

        return cls(ServiceBusClient(fqdn, credential), consumer=consumer, subscriptions=subscriptions)

    def subscription(self, topic: str) -> str:
        """The subscription this process reads ``topic`` from."""
        return self._subscriptions.get(topic, self._consumer)

    def notify(self) -> None:
        self.wakeups.notify()

    async def wait_for_work(self, timeout_s: float) -> None:
        await self.wakeups.wait(timeout_s)

    def _sender(self, topic: str) -> Any:
        if topic not in self._senders:
            self._senders[topic] = self._client.get_topic_sender(sb_topic(topic))
        return self._senders[topic]

    async def publish(self, topic: str, key: str, body: dict[str, Any]) -> None:
        try:
            await self._sender(topic).send_messages(to_service_bus(key, body))
        except (ServiceBusConnectionError, OperationTimeoutError, ServiceBusError) as exc:
            raise Unavailable(f"publish: service bus unavailable ({type(exc).__name__})", reason="BUS_UNAVAILABLE") from exc
        self.notify()

    async def _accept_session(self, topic: str) -> Any | None:
        """A receiver locked on the next session with work, or None when none has any."""
        try:
            receiver = self._client.get_subscription_receiver(
                sb_topic(topic),
                self.subscription(topic),
                session_id=NEXT_AVAILABLE_SESSION,
                receive_mode=ServiceBusReceiveMode.PEEK_LOCK,
                max_wait_time=self._wait,
            )
            await receiver.__aenter__()
        except OperationTimeoutError:
            return None  # no session has messages
        self._outstanding[id(receiver)] = 0
        return receiver

    async def _close(self, receiver: Any) -> None:
        self._outstanding.pop(id(receiver), None)
        try:
            await receiver.close()
        except ServiceBusError as exc:
            log.debug("closing a session receiver failed: %s", exc)

    async def _settled(self, receiver: Any) -> None:
        key = id(receiver)
        if key in self._outstanding:
            self._outstanding[key] = max(0, self._outstanding[key] - 1)

    async def _receive(self, topic: str, receiver: Any, want: int, out: list[Message]) -> bool:
        """Receive up to ``want`` from one session; closes a drained session with nothing in
        flight (settling needs its link open). Returns False when it was closed."""
        got = await receiver.receive_messages(max_message_count=want, max_wait_time=self._wait)
        if not got:
            if self._outstanding.get(id(receiver), 0) == 0:
                self._open[topic].remove(receiver)
                await self._close(receiver)
                return False
            return True
        self._outstanding[id(receiver)] = self._outstanding.get(id(receiver), 0) + len(got)
        out.extend(self._lease_one(topic, receiver, r) for r in got)
        return True

    async def lease(self, topics: Sequence[str], limit: int, visibility_s: float) -> list[Message]:
        """Receive from the sessions this process holds (a lock that expired is redelivered
        to its session's holder), then accept further sessions while below ``limit``."""
        out: list[Message] = []
        try:
            for topic in topics:
                open_ = self._open.setdefault(topic, [])
                for receiver in list(open_):
                    if len(out) >= limit:
                        break
                    await self._receive(topic, receiver, limit - len(out), out)
                while len(out) < limit and len(open_) < self._max_sessions:
                    receiver = await self._accept_session(topic)
                    if receiver is None:
                        break
                    open_.append(receiver)
                    if not await self._receive(topic, receiver, limit - len(out), out):
                        break
        except SessionLockLostError:
            for topic in topics:
                for receiver in self._open.pop(topic, []):
                    await self._close(receiver)
        except (ServiceBusConnectionError, ServiceBusError) as exc:
            raise Unavailable(f"lease: service bus unavailable ({type(exc).__name__})", reason="BUS_UNAVAILABLE") from exc
        return out

    def _lease_one(self, topic: str, receiver: Any, received: Any) -> Message:
        token = secrets.token_hex(8)
        self._leases[token] = (receiver, received)
        return Message(
            id=int(received.sequence_number or 0),
            topic=topic,
            key=str(received.session_id or ""),
            body=_body(received),
            attempts=_prior_attempts(received) + int(received.delivery_count or 0) + 1,
            lease=token,
        )

    async def ack(self, message: Message) -> None:
        held = self._leases.pop(message.lease, None)
        if held is None:
            return
        receiver, received = held
        try:
            await receiver.complete_message(received)
        except _LOST:
            log.info("ack of message %s after its lock was lost: ignored", message.id)
        finally:
            await self._settled(receiver)

    async def retry(self, message: Message, delay_s: float, error: str) -> None:
        held = self._leases.pop(message.lease, None)
        if held is None:
            return
        receiver, received = held
        try:
            copy = to_service_bus(message.key, message.body, attempts=message.attempts)
            when = datetime.now(UTC) + timedelta(seconds=max(0.0, delay_s))
            await self._sender(message.topic).schedule_messages(copy, when)
            await receiver.complete_message(received)
        except _LOST:
            log.info("retry of message %s after its lock was lost", message.id)
        finally:
            await self._settled(receiver)

    async def dead_letter(
        self, message: Message, *, tenant: str, stage: str, reason: str, ticket_id: str, source: str
    ) -> DeadLetterRecord:
        record = DeadLetterRecord(
            id=new_id("dl"), tenant=tenant, stage=stage, reason=reason[:4000],
            raw_payload_id=str(message.body.get("raw_payload_id", "")), ticket_id=ticket_id,
            source=source, attempts=message.attempts, created_at=time.time(), replayed=False,
            topic=message.topic, body=message.body,
        )
        held = self._leases.pop(message.lease, None)
        if held is not None:
            receiver, received = held
            try:
                await receiver.dead_letter_message(
                    received, reason=stage[:128], error_description=reason[:1024]
                )
            except _LOST:
                log.info("dead-letter of message %s after its lock was lost", message.id)
            finally:
                await self._settled(receiver)
        return record

    async def release_all_leases(self) -> int:
        """Nothing to release: locks held by a stopped process expire on the broker."""
        return 0

    async def depth(self) -> dict[str, tuple[int, float]]:
        """Not read here: KEDA scales on the subscription's message count itself."""
        return {}

    async def aclose(self) -> None:
        for receivers in self._open.values():
            for receiver in receivers:
                await self._close(receiver)
        self._open.clear()
        for sender in self._senders.values():
            await sender.close()
        await self._client.close()
