"""The Bus port over Redis Streams (the self-hosted alternative to Service Bus).

One stream per topic (``<prefix>:stream:<topic>``) read by one consumer group (the consumer's
name, ``OMEGA_BUS_CONSUMER``); every process is a distinct consumer in that group.

- lease: due delayed retries are moved back onto their stream first; entries another consumer
  has held for longer than the visibility timeout are taken over with XAUTOCLAIM (pending-entry
  reclaim, its cursor kept per topic so every call scans further along the pending list); then
  new entries are read with XREADGROUP.
- ack: XACK + XDEL, only while the lease is still this delivery's (a Lua check of the pending
  entry's consumer and delivery count), so a late ack after a reclaim is a no-op, as in SQLite.
- retry: the entry is settled and a copy parked in a per-topic ZSET scored by its due time.
- dead_letter: the entry is settled and its record (with the reason) appended to a
  dead-letter stream ``<prefix>:dead``; the composite store also keeps it in the document store.

One consumer group per stream: XDEL on ack assumes no other group reads the same topic (fan-out
would need a MAXLEN trim policy instead). Delivery is at-least-once; the steps are idempotent.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from backends.ids import new_id
from backends.records import DeadLetterRecord, Message
from backends.wakeups import LocalWakeups
from federation.errors import Unavailable

log = logging.getLogger(__name__)

# Settle one delivery if it is still ours: KEYS stream, target (zset or dead stream);
# ARGV group, entry id, consumer, deliveries, mode (ack|retry|dead), score, payload.
_SETTLE = """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 then return 0 end
if p[1][2] ~= ARGV[3] or tonumber(p[1][4]) ~= tonumber(ARGV[4]) then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
if ARGV[5] == 'retry' then
  redis.call('ZADD', KEYS[2], ARGV[6], ARGV[7])
elseif ARGV[5] == 'dead' then
  redis.call('XADD', KEYS[2], '*', 'record', ARGV[7])
end
return 1
"""

# Move due retries back onto the stream: KEYS zset, stream; ARGV now, limit.
_PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(due) do
  if redis.call('ZREM', KEYS[1], m) == 1 then
    local e = cjson.decode(m)
    redis.call('XADD', KEYS[2], '*', 'key', e.key, 'body', e.body, 'attempts', tostring(e.attempts))
  end
end
return #due
"""

_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


def connect(
    host: str, port: int, *, password: str | None = None, ssl: bool = False
) -> aioredis.Redis:
    """A client that fails fast when Redis is down (the caller maps that to UNAVAILABLE)."""
    return aioredis.Redis(
        host=host,
        port=port,
        password=password,
        ssl=ssl,
        socket_connect_timeout=2.0,
        socket_timeout=5.0,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
        decode_responses=True,
        health_check_interval=30,
    )


@asynccontextmanager
async def unavailable_on_failure(what: str) -> AsyncIterator[None]:
    """Map a lost Redis connection to ``Unavailable`` (gRPC UNAVAILABLE)."""
    try:
        yield
    except _DOWN as exc:
        raise Unavailable(f"{what}: redis unavailable ({type(exc).__name__})", reason="STORE_UNAVAILABLE") from exc


def _entry_number(entry_id: str) -> int:
    ms, _, seq = entry_id.partition("-")
    return int(ms) * 1_000_000 + int(seq or 0)


class RedisStreamsBus:
    """At-least-once Bus over Redis Streams with consumer groups and XAUTOCLAIM reclaim."""

    def __init__(self, client: aioredis.Redis, *, prefix: str = "omega", group: str = "pipeline") -> None:
        self._r = client
        self._prefix = prefix
        self._group = group
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        self.wakeups = LocalWakeups()
        self._groups: set[str] = set()
        self._topics: set[str] = set()
        self._claim_from: dict[str, str] = {}  # XAUTOCLAIM cursor per topic
        self._settle = client.register_script(_SETTLE)
        self._promote = client.register_script(_PROMOTE)

    # ---- keys ------------------------------------------------------------------------------
    def stream_key(self, topic: str) -> str:
        return f"{self._prefix}:stream:{topic}"

    def delayed_key(self, topic: str) -> str:
        return f"{self._prefix}:delayed:{topic}"

    @property
    def dead_key(self) -> str:
        return f"{self._prefix}:dead"

    # ---- wake-ups --------------------------------------------------------------------------
    def notify(self) -> None:
        self.wakeups.notify()

    async def wait_for_work(self, timeout_s: float) -> None:
        """Local publishes wake at once; other processes' publishes are seen on the next poll."""
        await self.wakeups.wait(timeout_s)

    # ---- port ------------------------------------------------------------------------------
    async def publish(self, topic: str, key: str, body: dict[str, Any]) -> None:
        async with unavailable_on_failure("publish"):
            await self._r.xadd(
                self.stream_key(topic),
                {"key": key, "body": json.dumps(body, separators=(",", ":")), "attempts": "0"},
            )
        self._topics.add(topic)
        self.notify()

    async def _ensure_group(self, topic: str) -> None:
        if topic in self._groups:
            return
        try:
            await self._r.xgroup_create(self.stream_key(topic), self._group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add(topic)
        self._topics.add(topic)

    def _message(self, topic: str, entry_id: str, fields: dict[str, str], deliveries: int) -> Message:
        prior = int(fields.get("attempts", "0"))
        return Message(
            id=_entry_number(entry_id),
            topic=topic,
            key=fields.get("key", ""),
            body=json.loads(fields.get("body", "{}")),
            attempts=prior + deliveries,
            lease=f"{self.consumer}|{entry_id}|{deliveries}",
        )

    async def lease(self, topics: Sequence[str], limit: int, visibility_s: float) -> list[Message]:
        try:
            return await self._lease(topics, limit, visibility_s)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # The stream or its group vanished (a Redis that lost its data): recreate them.
            log.warning("consumer group missing on the bus; recreating it")
            self._groups.clear()
            self._claim_from.clear()
            return []

    async def _lease(self, topics: Sequence[str], limit: int, visibility_s: float) -> list[Message]:
        out: list[Message] = []
        async with unavailable_on_failure("lease"):
            now = time.time()
            for topic in topics:
                await self._ensure_group(topic)
                await self._promote(
                    keys=[self.delayed_key(topic), self.stream_key(topic)], args=[now, limit]
                )
            idle_ms = max(1, int(visibility_s * 1000))
            for topic in topics:
                if len(out) >= limit:
                    break
                stream = self.stream_key(topic)
                # XAUTOCLAIM looks at no more than 10 x count pending entries per call: go on
                # from where the last call stopped (its cursor is "0-0" once the scan wrapped),
                # or stale entries behind a long head of busy ones would wait for the head.
                claimed: Any = await self._r.xautoclaim(
                    stream, self._group, self.consumer, idle_ms,
                    start_id=self._claim_from.get(topic, "0-0"), count=limit - len(out),
                )
                self._claim_from[topic] = str(claimed[0])
                for entry_id, fields in claimed[1]:
                    if not fields:
                        continue
                    pending = await self._r.xpending_range(
                        stream, self._group, min=entry_id, max=entry_id, count=1
                    )
                    deliveries = int(pending[0]["times_delivered"]) if pending else 1
                    out.append(self._message(topic, entry_id, fields, deliveries))
            for topic in topics:
                if len(out) >= limit:
                    break
                got: Any = await self._r.xreadgroup(
                    self._group, self.consumer, {self.stream_key(topic): ">"}, count=limit - len(out)
                )
                for _stream, entries in got or []:
                    for entry_id, fields in entries:
                        out.append(self._message(topic, entry_id, fields, 1))
        return out

    def _parse_lease(self, message: Message) -> tuple[str, str, int]:
        consumer, entry_id, deliveries = message.lease.split("|")
        return consumer, entry_id, int(deliveries)

    async def _settle_one(
        self, message: Message, mode: str, target: str, score: float = 0.0, payload: str = ""
    ) -> bool:
        consumer, entry_id, deliveries = self._parse_lease(message)
        done = await self._settle(
            keys=[self.stream_key(message.topic), target],
            args=[self._group, entry_id, consumer, deliveries, mode, score, payload],
        )
        return bool(done)

    async def ack(self, message: Message) -> None:
        async with unavailable_on_failure("ack"):
            await self._settle_one(message, "ack", self.delayed_key(message.topic))

    async def retry(self, message: Message, delay_s: float, error: str) -> None:
        parked = json.dumps(
            {
                "key": message.key,
                "body": json.dumps(message.body, separators=(",", ":")),
                "attempts": message.attempts,
                "error": error[:2000],
                "nonce": secrets.token_hex(6),
            },
            separators=(",", ":"),
        )
        async with unavailable_on_failure("retry"):
            await self._settle_one(
                message, "retry", self.delayed_key(message.topic), time.time() + delay_s, parked
            )

    async def dead_letter(
        self, message: Message, *, tenant: str, stage: str, reason: str, ticket_id: str, source: str
    ) -> DeadLetterRecord:
        record = DeadLetterRecord(
            id=new_id("dl"),
            tenant=tenant,
            stage=stage,
            reason=reason[:4000],
            raw_payload_id=str(message.body.get("raw_payload_id", "")),
            ticket_id=ticket_id,
            source=source,
            attempts=message.attempts,
            created_at=time.time(),
            replayed=False,
            topic=message.topic,
            body=message.body,
        )
        payload = json.dumps(record.__dict__, separators=(",", ":"))
        async with unavailable_on_failure("dead_letter"):
            await self._settle_one(message, "dead", self.dead_key, payload=payload)
        return record

    async def dead_letter_log(self, count: int = 100) -> list[DeadLetterRecord]:
        """The newest records of the dead-letter stream (oldest first)."""
        async with unavailable_on_failure("dead_letter_log"):
            rows: Any = await self._r.xrevrange(self.dead_key, count=count)
        return [DeadLetterRecord(**json.loads(fields["record"])) for _id, fields in reversed(rows)]

    async def release_all_leases(self) -> int:
        """Nothing to release: a new process is a new consumer, and entries held by a dead one
        are reclaimed with XAUTOCLAIM once their visibility timeout has passed."""
        return 0

    async def depth(self) -> dict[str, tuple[int, float]]:
        """Per topic this process knows: (entries waiting or parked, age of the oldest entry)."""
        out: dict[str, tuple[int, float]] = {}
        async with unavailable_on_failure("depth"):
            for topic in sorted(self._topics):
                n = int(await self._r.xlen(self.stream_key(topic)))
                n += int(await self._r.zcard(self.delayed_key(topic)))
                first: Any = await self._r.xrange(self.stream_key(topic), count=1)
                age = time.time() - int(first[0][0].split("-")[0]) / 1000 if first else 0.0
                out[topic] = (n, age)
        return out

    async def aclose(self) -> None:
        await self._r.aclose()
