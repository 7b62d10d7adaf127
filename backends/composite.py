"""The production store: blob store + document store (Cosmos DB) + bus, behind the same ports
as the embedded ``EmbeddedStore``.

Ingest cannot be one transaction across three services, so ``CompositeIngestJournal.accept``
orders its writes so that every crash point is recoverable and nothing answered OK is lost:

1. the version record ``(tenant, source, external id, version)`` is created as *pending*
   (create-if-absent: a *done* one means duplicate; a *pending* one is resumed with its raw id);
2. the raw payload goes to the blob store, durably, before anything refers to it;
3. the ticket document is created or found, and the queued message is added to its outbox
   with the next arrival sequence, in one ETag-checked replace;
4. the message is published; if the bus is down, ingest raises ``Unavailable`` (the caller
   retries; the outbox entry is published later by the reconciler, which is harmless: every
   step is idempotent);
5. the version record is marked *done* and the outbox entry removed.

When the blob or document store is down, step 1 or 2 raises ``Unavailable`` before anything
is accepted. ``OutboxReconciler`` re-publishes tickets whose outbox stayed pending.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from azure.core.exceptions import ResourceExistsError

from backends.azure_blob.blobs import BlobStore, new_raw
from backends.cosmos.documents import (
    CosmosDeadLetterStore,
    CosmosDocuments,
    CosmosExampleStore,
    CosmosFeatureStore,
    CosmosTicketRepository,
    CosmosTimeline,
    add_to_outbox,
    key_id,
    outbox_entry,
    unavailable_on_failure,
    version_id,
)
from backends.ids import new_id
from backends.records import (
    AcceptResult,
    DeadLetterRecord,
    Message,
    RawPayload,
    TicketRecord,
    TicketState,
    raw_message_body,
)
from connectors.contract import PayloadIdentity
from federation.errors import Unavailable, cancelled_by_caller

log = logging.getLogger(__name__)


class CompositeBus:
    """The bus, with dead letters also kept in the document store (listing and replay)."""

    def __init__(self, inner: Any, dead_letters: CosmosDeadLetterStore) -> None:
        self.inner = inner
        self._dead_letters = dead_letters
        self.on_start: Any = None  # async callable run once by release_all_leases (start-up)

    @property
    def wakeups(self) -> Any:
        return getattr(self.inner, "wakeups", None)

    def notify(self) -> None:
        self.inner.notify()

    async def wait_for_work(self, timeout_s: float) -> None:
        await self.inner.wait_for_work(timeout_s)

    async def publish(self, topic: str, key: str, body: dict[str, Any]) -> None:
        await self.inner.publish(topic, key, body)

    async def lease(self, topics: Sequence[str], limit: int, visibility_s: float) -> list[Message]:
        result: list[Message] = await self.inner.lease(topics, limit, visibility_s)
        return result

    async def ack(self, message: Message) -> None:
        """A failed ack is logged, not raised: the message stays leased and is delivered again
        after its visibility timeout (at-least-once; the steps are idempotent)."""
        try:
            await self.inner.ack(message)
        except Unavailable as exc:
            log.warning("ack of message %s failed; it will be redelivered: %s", message.id, exc)

    async def retry(self, message: Message, delay_s: float, error: str) -> None:
        """As ``ack``: if the bus is down the message is redelivered after its visibility."""
        try:
            await self.inner.retry(message, delay_s, error)
        except Unavailable as exc:
            log.warning("retry of message %s failed; it will be redelivered: %s", message.id, exc)

    async def dead_letter(
        self, message: Message, *, tenant: str, stage: str, reason: str, ticket_id: str, source: str
    ) -> DeadLetterRecord:
        record: DeadLetterRecord = await self.inner.dead_letter(
            message, tenant=tenant, stage=stage, reason=reason, ticket_id=ticket_id, source=source
        )
        await self._dead_letters.add(record)
        return record

    async def release_all_leases(self) -> int:
        """Start-up hook (the mesh calls it once): starts the outbox reconciler."""
        if self.on_start is not None:
            await self.on_start()
        released: int = await self.inner.release_all_leases()
        return released

    async def depth(self) -> dict[str, tuple[int, float]]:
        depth: dict[str, tuple[int, float]] = await self.inner.depth()
        return depth


class CompositeIngestJournal:
    """IngestJournal over blob store + Cosmos (tickets, versions) + bus (see module doc)."""

    def __init__(
        self,
        docs: CosmosDocuments,
        blobs: BlobStore,
        tickets: CosmosTicketRepository,
        dead_letters: CosmosDeadLetterStore,
        bus: Any,
    ) -> None:
        self._versions = docs.versions
        self._blobs = blobs
        self._tickets = tickets
        self._dead_letters = dead_letters
        self._bus = bus

    async def _claim_version(
        self, tenant: str, source: str, identity: PayloadIdentity
    ) -> tuple[dict[str, Any], bool]:
        """The version record, and whether this call created it."""
        doc = {
            "id": version_id(source, identity.external_id, identity.version),
            "tenant": tenant,
            "type": "version",
            "source": source,
            "external_id": identity.external_id,
            "version": identity.version,
            "raw_payload_id": new_id("raw"),
            "ticket_id": "",
            "status": "pending",
            "created_at": time.time(),
        }
        async with unavailable_on_failure("ingest"):
            try:
                await self._versions.create_item(doc)
                return doc, True
            except ResourceExistsError:
                existing: dict[str, Any] = await self._versions.read_item(str(doc["id"]), partition_key=tenant)
                return existing, False

    async def _ticket_id(self, tenant: str, source: str, external_id: str) -> tuple[str, bool]:
        """Find or create the ticket id for (source, external id); True when created here."""
        doc = {
            "id": key_id(source, external_id),
            "tenant": tenant,
            "type": "key",
            "source": source,
            "external_id": external_id,
            "ticket_id": new_id("tkt"),
        }
        async with unavailable_on_failure("ingest"):
            try:
                await self._versions.create_item(doc)
                return str(doc["ticket_id"]), True
            except ResourceExistsError:
                existing = await self._versions.read_item(str(doc["id"]), partition_key=tenant)
                return str(existing["ticket_id"]), False

    async def accept(
        self, tenant: str, identity: PayloadIdentity, raw: bytes, received_via: str, topic: str
    ) -> AcceptResult:
        source = identity.source.value
        version, created = await self._claim_version(tenant, source, identity)
        raw_id = str(version["raw_payload_id"])
        if not created and version.get("status") == "done":
            return AcceptResult(str(version["ticket_id"]), raw_id, duplicate=True)
        # 2. the raw payload, durably, first (a resumed attempt re-puts the same id: no-op).
        await self._blobs.put_raw(new_raw(raw_id, tenant, source, raw, received_via))
        # 3. the ticket, with the queued message in its outbox.
        ticket_id, fresh = await self._ticket_id(tenant, source, identity.external_id)
        now = time.time()
        record = TicketRecord(
            id=ticket_id, tenant=tenant, source=source, external_id=identity.external_id,
            state=TicketState.RECEIVED, created_at=now, updated_at=now,
            version=identity.version, raw_payload_id=raw_id,
        )
        if fresh or await self._tickets.read_doc(tenant, ticket_id) is None:
            await self._tickets.create_doc(record)
        entry: dict[str, Any] = {}

        def queue(doc: dict[str, Any]) -> bool:
            seq = int(doc.get("last_seq", 0)) + 1
            doc["last_seq"] = seq
            entry.clear()
            entry.update(
                outbox_entry(
                    topic, ticket_id, raw_message_body(tenant, ticket_id, raw_id, seq, identity, now)
                )
            )
            add_to_outbox(doc, entry)
            return True

        if await self._tickets.update(tenant, ticket_id, queue) is None:
            raise Unavailable(f"ticket {ticket_id} vanished during ingest", reason="STORE_UNAVAILABLE")
        # 4. publish: the bus being down is UNAVAILABLE to the caller (the outbox keeps it).
        try:
            await self._tickets.flush_outbox(tenant, ticket_id, [dict(entry)], raise_on_failure=True)
        except Unavailable:
            raise
        except Exception as exc:
            raise Unavailable(f"bus unavailable: {type(exc).__name__}", reason="BUS_UNAVAILABLE") from exc
        # 5. the version is done: a redelivery of this payload is now a duplicate.
        version.update(status="done", ticket_id=ticket_id)
        async with unavailable_on_failure("ingest"):
            await self._versions.upsert_item({k: v for k, v in version.items() if not k.startswith("_")})
        return AcceptResult(ticket_id, raw_id, duplicate=False)

    async def reject(
        self, tenant: str, source: str, raw: bytes, received_via: str, reason: str
    ) -> DeadLetterRecord:
        raw_id = new_id("raw")
        await self._blobs.put_raw(new_raw(raw_id, tenant, source, raw, received_via))
        record = DeadLetterRecord(
            id=new_id("dl"), tenant=tenant, stage="ingest", reason=reason[:4000],
            raw_payload_id=raw_id, ticket_id="", source=source, attempts=0,
            created_at=time.time(), replayed=False,
        )
        await self._dead_letters.add(record)
        return record

    async def keep(self, tenant: str, source: str, raw: bytes, received_via: str) -> str:
        raw_id = new_id("raw")
        await self._blobs.put_raw(new_raw(raw_id, tenant, source, raw, received_via))
        return raw_id

    async def get_raw(self, raw_payload_id: str) -> RawPayload | None:
        return await self._blobs.get_raw(raw_payload_id)


class OutboxReconciler:
    """Re-publishes tickets whose outbox kept an entry for longer than ``grace_s``."""

    def __init__(self, tickets: CosmosTicketRepository, *, interval_s: float, grace_s: float) -> None:
        self._tickets = tickets
        self._interval_s = interval_s
        self._grace_s = grace_s
        self._task: asyncio.Task[None] | None = None
        self.republished = 0

    async def run_once(self) -> int:
        """One pass; returns how many outbox entries were published."""
        published = 0
        for doc in await self._tickets.stuck(self._grace_s):
            entries = list(doc.get("outbox") or [])
            if entries and await self._tickets.flush_outbox(
                doc["tenant"], doc["id"], entries, raise_on_failure=False
            ):
                published += len(entries)
        if published:
            log.info("outbox reconciler re-published %d messages", published)
        self.republished += published
        return published

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="outbox-reconciler")

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                if cancelled_by_caller():
                    raise  # stop()
                # Raised from inside a client library, not by stop(): the reconciler must
                # outlive it, or outbox entries would wait for a restart.
                log.error("outbox reconciler pass was cancelled from inside; going on")
            except Exception as exc:  # noqa: BLE001 - the stores may be down; try again later
                log.warning("outbox reconciler pass failed: %s", exc)
            await asyncio.sleep(self._interval_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


class CompositeStore:
    """Same attributes as ``EmbeddedStore``: bus, journal, tickets, dead_letters, timeline,
    features, close(); plus ``db``, a local SQLite database for components that still keep
    tables of their own (the shadow team), and ``reconciler``."""

    def __init__(
        self,
        *,
        docs: CosmosDocuments,
        blobs: BlobStore,
        bus: Any,
        local_db: Any = None,
        outbox_interval_s: float = 5.0,
        outbox_grace_s: float = 10.0,
        create_containers: bool = False,
        create_blob_containers: bool | None = None,
    ) -> None:
        self._create_containers = create_containers
        self._create_blob_containers = (
            create_containers if create_blob_containers is None else create_blob_containers
        )
        self._started = False
        self.docs = docs
        self.blobs = blobs
        self.tickets = CosmosTicketRepository(docs, None)
        self.dead_letters = CosmosDeadLetterStore(docs, self.tickets)
        self.bus = CompositeBus(bus, self.dead_letters)
        self.tickets.bus = self.bus
        self.journal = CompositeIngestJournal(docs, blobs, self.tickets, self.dead_letters, self.bus)
        self.timeline = CosmosTimeline(docs)
        self.features = CosmosFeatureStore(docs)
        self.examples = CosmosExampleStore(docs)  # the shadow team's labelled examples
        self.db = local_db
        self.reconciler = OutboxReconciler(
            self.tickets, interval_s=outbox_interval_s, grace_s=outbox_grace_s
        )
        self.bus.on_start = self.start
        self._closing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Create containers when asked (dev/emulator only) and start the outbox reconciler."""
        if self._started:
            return
        if self._create_containers:
            await self.docs.ensure_containers()
        ensure = getattr(self.blobs, "ensure_containers", None)
        if self._create_blob_containers and ensure is not None:
            await ensure()
        self._started = True
        self.reconciler.start()

    async def aclose(self) -> None:
        await self.reconciler.stop()
        for closer in (self.bus.inner, self.blobs, self.docs):
            try:
                await closer.aclose()
            except Exception as exc:  # noqa: BLE001 - close the rest regardless
                log.warning("closing %s failed: %s", type(closer).__name__, exc)
        if self.db is not None:
            self.db.close()

    def close(self) -> None:
        """Synchronous close for callers of ``EmbeddedStore.close()``: schedules ``aclose``
        on the running loop (prefer ``await aclose()``)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self.aclose())
            return
        self._closing = loop.create_task(self.aclose())

