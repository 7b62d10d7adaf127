"""An in-process stand-in of the azure-servicebus *async client objects* (NOT the AMQP wire).

It implements the methods ServiceBusBus calls on ``ServiceBusClient`` (get_topic_sender,
get_subscription_receiver, close), on senders (send_messages, schedule_messages, close) and on
receivers (receive_messages, complete_message, dead_letter_message, close), with the broker
behaviour the adapter relies on: one subscription per consumer with a copy of every message,
peek-lock with a lock duration (an expired lock makes the message receivable again with its
delivery count raised, and settling it afterwards raises the SDK's ``MessageLockLostError``),
scheduled enqueue times, a dead-letter sub-queue keeping the reason, and sessions (a receiver
opened with NEXT_AVAILABLE_SESSION locks one session that has messages, or raises the SDK's
``OperationTimeoutError`` when none has).

Outgoing messages are the SDK's own ``ServiceBusMessage`` objects, so what the adapter builds
(body, session id, application properties, scheduled time) is what a real sender would get.
Received messages are a small class with the attributes of ``ServiceBusReceivedMessage`` the
adapter reads (body, session_id, sequence_number, delivery_count, application_properties).
Nothing here exercises AMQP, authentication, or the real broker's timing: that gap is covered
only by the opt-in test against a real namespace (OMEGA_TEST_SERVICEBUS).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from azure.servicebus import ServiceBusMessage
from azure.servicebus.exceptions import MessageLockLostError, OperationTimeoutError


@dataclass
class _Stored:
    seq: int
    body: bytes
    session_id: str
    application_properties: dict[Any, Any]
    visible_at: float
    delivery_count: int = 0
    lock_token: str = ""
    locked_until: float = 0.0


@dataclass
class ReceivedMessage:
    """The attributes of ServiceBusReceivedMessage that ServiceBusBus reads."""

    body: list[bytes]
    session_id: str
    sequence_number: int
    delivery_count: int
    application_properties: dict[Any, Any]
    lock_token: str


@dataclass
class _Subscription:
    messages: list[_Stored] = field(default_factory=list)
    dead: list[tuple[_Stored, str, str]] = field(default_factory=list)
    session_owner: dict[str, int] = field(default_factory=dict)


class StandInBroker:
    """Topics → subscriptions; every published message is copied to each subscription."""

    def __init__(self, lock_duration_s: float, subscriptions: list[str]) -> None:
        self.lock_duration_s = lock_duration_s
        self._names = subscriptions
        self.topics: dict[str, dict[str, _Subscription]] = {}
        self._seq = itertools.count(1)
        self._tokens = itertools.count(1)
        self._receivers = itertools.count(1)
        self.sent: list[tuple[str, ServiceBusMessage]] = []

    def _subs(self, topic: str) -> dict[str, _Subscription]:
        return self.topics.setdefault(topic, {n: _Subscription() for n in self._names})

    def enqueue(self, topic: str, message: ServiceBusMessage, visible_at: float) -> None:
        assert isinstance(message, ServiceBusMessage)
        self.sent.append((topic, message))
        body = b"".join(bytes(part) for part in message.body) if not isinstance(message.body, bytes) else message.body
        for sub in self._subs(topic).values():
            sub.messages.append(
                _Stored(
                    next(self._seq), body, str(message.session_id),
                    dict(message.application_properties or {}), visible_at,
                )
            )

    def token(self) -> str:
        return f"lock-{next(self._tokens)}"

    def receiver_id(self) -> int:
        return next(self._receivers)


class StandInSender:
    def __init__(self, broker: StandInBroker, topic: str) -> None:
        self._broker = broker
        self._topic = topic

    async def send_messages(self, message: ServiceBusMessage) -> None:
        self._broker.enqueue(self._topic, message, time.time())

    async def schedule_messages(self, message: ServiceBusMessage, schedule_time_utc: datetime) -> list[int]:
        assert schedule_time_utc.tzinfo is not None
        self._broker.enqueue(self._topic, message, schedule_time_utc.timestamp())
        return [0]

    async def close(self) -> None:
        return None


class StandInReceiver:
    def __init__(self, broker: StandInBroker, topic: str, subscription: str) -> None:
        self._broker = broker
        self._sub = broker._subs(topic)[subscription]
        self._id = broker.receiver_id()
        self.session: str | None = None

    def _available(self, m: _Stored, now: float) -> bool:
        return m.visible_at <= now and m.locked_until <= now

    async def __aenter__(self) -> StandInReceiver:
        now = time.time()
        for m in self._sub.messages:
            owner = self._sub.session_owner.get(m.session_id)
            if self._available(m, now) and owner is None:
                self.session = m.session_id
                self._sub.session_owner[m.session_id] = self._id
                return self
        raise OperationTimeoutError(message="no session available")

    async def receive_messages(self, max_message_count: int = 1, max_wait_time: float | None = None) -> list[ReceivedMessage]:
        now = time.time()
        out: list[ReceivedMessage] = []
        for m in self._sub.messages:
            if len(out) >= max_message_count:
                break
            if m.session_id != self.session or not self._available(m, now):
                continue
            if m.lock_token:  # the previous lock expired: a redelivery
                m.delivery_count += 1
            m.lock_token = self._broker.token()
            m.locked_until = now + self._broker.lock_duration_s
            out.append(
                ReceivedMessage(
                    [m.body], m.session_id, m.seq, m.delivery_count,
                    dict(m.application_properties), m.lock_token,
                )
            )
        return out

    def _settle(self, received: ReceivedMessage) -> _Stored:
        for m in self._sub.messages:
            if m.seq == received.sequence_number:
                if m.lock_token != received.lock_token or m.locked_until <= time.time():
                    raise MessageLockLostError(message="lock lost")
                self._sub.messages.remove(m)
                return m
        raise MessageLockLostError(message="message is gone")

    async def complete_message(self, received: ReceivedMessage) -> None:
        self._settle(received)

    async def dead_letter_message(self, received: ReceivedMessage, reason: str | None = None, error_description: str | None = None) -> None:
        m = self._settle(received)
        self._sub.dead.append((m, reason or "", error_description or ""))

    async def close(self) -> None:
        if self.session is not None and self._sub.session_owner.get(self.session) == self._id:
            del self._sub.session_owner[self.session]


class StandInClient:
    """What ServiceBusBus needs of ``azure.servicebus.aio.ServiceBusClient``."""

    def __init__(self, broker: StandInBroker) -> None:
        self.broker = broker

    def get_topic_sender(self, topic_name: str) -> StandInSender:
        return StandInSender(self.broker, topic_name)

    def get_subscription_receiver(self, topic_name: str, subscription_name: str, **kwargs: Any) -> StandInReceiver:
        return StandInReceiver(self.broker, topic_name, subscription_name)

    async def close(self) -> None:
        return None


def now_utc() -> datetime:
    return datetime.now(UTC)
