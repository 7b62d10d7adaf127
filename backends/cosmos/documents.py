"""Document ports over Cosmos DB (NoSQL API): tickets, version records, dead letters, timeline,
features. Every container is partitioned by ``/tenant``.

- Tickets: one document per ticket (``type: ticket``). Compare-and-set saves read the document,
  check the guard (state, applied arrival sequence), and replace it with ``If-Match: <ETag>``;
  a 412 (someone else wrote first) re-reads and re-checks.
- Transactional outbox: a save that must also publish appends ``{topic, body}`` to the ticket
  document's ``outbox`` in the same replace, publishes, then removes the entry. A ticket whose
  publish did not complete keeps ``outbox_pending = true`` and the reconciler
  (``OutboxReconciler``) publishes it again, so nothing saved is left unpublished.
- Versions container: the idempotency key ``(tenant, source, external id, version)`` is the
  document id of a ``type: version`` record; ``type: key`` records map (source, external id) to
  the ticket id. Both are created with create-if-absent (409 = exists), never read-then-write.
- Events container: timeline events (``type: event``), dead letters (``type: dead_letter``) and
  the shadow team's labelled examples for retraining (``type: example``).

Transient failures (connection errors, 5xx, 429/408) become ``Unavailable`` (gRPC UNAVAILABLE).
"""

from __future__ import annotations

import builtins
import hashlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.cosmos import PartitionKey
from azure.cosmos.aio import ContainerProxy, CosmosClient, DatabaseProxy
from azure.cosmos.exceptions import CosmosAccessConditionFailedError, CosmosHttpResponseError

from backends.ids import new_id
from backends.ports import Bus
from backends.records import DeadLetterRecord, TicketEvent, TicketRecord, TicketState
from federation.errors import Unavailable

log = logging.getLogger(__name__)

TICKETS, VERSIONS, EVENTS = "tickets", "versions", "events"
# Containers the adapters use, with the composite indexes their ORDER BY queries need
# (Bicep must declare the same; the production identity cannot create containers).
CONTAINERS: dict[str, list[list[dict[str, str]]]] = {
    TICKETS: [
        [{"path": "/created_at", "order": "descending"}, {"path": "/id", "order": "descending"}],
    ],
    VERSIONS: [],
    EVENTS: [
        [{"path": "/created_at", "order": "descending"}, {"path": "/id", "order": "descending"}],
        [{"path": "/recorded_ns", "order": "ascending"}, {"path": "/id", "order": "ascending"}],
    ],
}
_MAX_CAS_ATTEMPTS = 20


def _transient(exc: CosmosHttpResponseError) -> bool:
    code = exc.status_code or 0
    return code >= 500 or code in (408, 429, 449)


@asynccontextmanager
async def unavailable_on_failure(what: str) -> AsyncIterator[None]:
    """Map a Cosmos outage or throttling to ``Unavailable``; other errors pass through."""
    try:
        yield
    except (ServiceRequestError, ServiceResponseError, OSError) as exc:
        raise Unavailable(f"{what}: cosmos unavailable ({type(exc).__name__})", reason="STORE_UNAVAILABLE") from exc
    except CosmosHttpResponseError as exc:
        if _transient(exc):
            raise Unavailable(
                f"{what}: cosmos answered {exc.status_code}", reason="STORE_UNAVAILABLE"
            ) from exc
        raise


def key_id(source: str, external_id: str) -> str:
    """Document id of the (source, external id) → ticket mapping (ids may not contain '/')."""
    return "k-" + hashlib.sha256(f"{source}\x00{external_id}".encode()).hexdigest()


def version_id(source: str, external_id: str, version: str) -> str:
    """Document id of one payload version: the ingest idempotency key within a tenant."""
    return "v-" + hashlib.sha256(f"{source}\x00{external_id}\x00{version}".encode()).hexdigest()


def _strip(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def ticket_doc(record: TicketRecord) -> dict[str, Any]:
    doc = asdict(record)
    doc["state"] = record.state.value
    doc["type"] = "ticket"
    doc.setdefault("outbox", [])
    doc["outbox_pending"] = False
    doc["outbox_since"] = 0.0
    doc["last_seq"] = record.applied_seq
    return doc


def ticket_record(doc: dict[str, Any]) -> TicketRecord:
    return TicketRecord(
        id=doc["id"],
        tenant=doc["tenant"],
        source=doc["source"],
        external_id=doc["external_id"],
        state=TicketState(doc["state"]),
        created_at=float(doc["created_at"]),
        updated_at=float(doc["updated_at"]),
        version=doc.get("version", ""),
        raw_payload_id=doc.get("raw_payload_id", ""),
        fields=dict(doc.get("fields") or {}),
        triage=doc.get("triage"),
        error=doc.get("error", ""),
        applied_seq=int(doc.get("applied_seq", 0)),
    )


def dead_letter_doc(record: DeadLetterRecord) -> dict[str, Any]:
    doc = asdict(record)
    doc["type"] = "dead_letter"
    return doc


def dead_letter_record(doc: dict[str, Any]) -> DeadLetterRecord:
    return DeadLetterRecord(
        id=doc["id"],
        tenant=doc["tenant"],
        stage=doc["stage"],
        reason=doc["reason"],
        raw_payload_id=doc.get("raw_payload_id", ""),
        ticket_id=doc.get("ticket_id", ""),
        source=doc.get("source", ""),
        attempts=int(doc.get("attempts", 0)),
        created_at=float(doc["created_at"]),
        replayed=bool(doc.get("replayed", False)),
        topic=doc.get("topic", ""),
        body=doc.get("body"),
    )


class CosmosDocuments:
    """The database and its containers; ``open`` creates them only when asked (dev/emulator)."""

    def __init__(self, client: CosmosClient, database: DatabaseProxy) -> None:
        self.client = client
        self.database = database
        self.tickets = database.get_container_client(TICKETS)
        self.versions = database.get_container_client(VERSIONS)
        self.events = database.get_container_client(EVENTS)

    @classmethod
    def connect(cls, endpoint: str, credential: Any, database: str) -> CosmosDocuments:
        """Clients only (no I/O); ``ensure_containers`` creates what is missing (dev only)."""
        client = CosmosClient(endpoint, credential=credential)
        return cls(client, client.get_database_client(database))

    async def ensure_containers(self) -> None:
        """Create the database and containers with their indexes (emulator / dev)."""
        async with unavailable_on_failure("create containers"):
            db = await self.client.create_database_if_not_exists(self.database.id)
            for name, composite in CONTAINERS.items():
                policy: dict[str, Any] = {
                    "indexingMode": "consistent",
                    "includedPaths": [{"path": "/*"}],
                    "excludedPaths": [{"path": '/"_etag"/?'}],
                }
                if composite:
                    policy["compositeIndexes"] = composite
                await db.create_container_if_not_exists(
                    name, partition_key=PartitionKey(path="/tenant"), indexing_policy=policy
                )

    async def aclose(self) -> None:
        await self.client.close()


async def _query(container: ContainerProxy, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    parameters = [{"name": k, "value": v} for k, v in params.items()]
    return [item async for item in container.query_items(sql, parameters=parameters)]


class CosmosTicketRepository:
    """TicketRepository with ETag compare-and-set and a per-document transactional outbox."""

    def __init__(self, docs: CosmosDocuments, bus: Bus | None) -> None:
        self._c = docs.tickets
        self.bus = bus

    async def read_doc(self, tenant: str, ticket_id: str) -> dict[str, Any] | None:
        async with unavailable_on_failure("read ticket"):
            try:
                doc: dict[str, Any] = await self._c.read_item(ticket_id, partition_key=tenant)
            except ResourceNotFoundError:
                return None
        return doc if doc.get("type") == "ticket" else None

    async def create_doc(self, record: TicketRecord) -> bool:
        """Create the ticket document; False when it exists already."""
        async with unavailable_on_failure("create ticket"):
            try:
                await self._c.create_item(ticket_doc(record))
            except ResourceExistsError:
                return False
        return True

    async def get(self, tenant: str, ticket_id: str) -> TicketRecord | None:
        doc = await self.read_doc(tenant, ticket_id)
        return ticket_record(doc) if doc else None

    async def list(
        self, tenant: str, *, state: TicketState | None, limit: int, before: tuple[float, str] | None
    ) -> list[TicketRecord]:
        sql = "SELECT TOP @n * FROM c WHERE c.tenant=@t AND c.type='ticket'"
        params: dict[str, Any] = {"@n": limit, "@t": tenant}
        if state is not None:
            sql += " AND c.state=@s"
            params["@s"] = state.value
        if before is not None:
            sql += " AND (c.created_at < @ca OR (c.created_at = @ca AND c.id < @id))"
            params["@ca"], params["@id"] = before
        sql += " ORDER BY c.created_at DESC, c.id DESC"
        async with unavailable_on_failure("list tickets"):
            docs = await _query(self._c, sql, params)
        return [ticket_record(d) for d in docs]

    async def update(
        self, tenant: str, ticket_id: str, change: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any] | None:
        """Read-modify-replace with If-Match until it sticks; ``change`` returns False to give
        up (a guard failed). Returns the stored document, or None when nothing was written."""
        for _ in range(_MAX_CAS_ATTEMPTS):
            doc = await self.read_doc(tenant, ticket_id)
            if doc is None or not change(doc):
                return None
            async with unavailable_on_failure("save ticket"):
                try:
                    stored: dict[str, Any] = await self._c.replace_item(
                        ticket_id,
                        _strip(doc),
                        etag=doc["_etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
                except (CosmosAccessConditionFailedError, ResourceModifiedError):
                    continue  # 412: someone wrote first; re-read and re-check the guard
            return stored
        raise Unavailable("ticket is contended; retry", reason="STORE_CONTENDED")

    async def save(
        self,
        record: TicketRecord,
        *,
        expected_state: TicketState | None = None,
        applied_before: int | None = None,
        only: tuple[str, ...] | None = None,
    ) -> bool:
        """Save the ticket; with a guard, only if it still holds (compare-and-set)."""
        return await self.save_and_publish(
            record, None, None, expected_state=expected_state, applied_before=applied_before,
            only=only,
        )

    async def save_and_publish(
        self,
        record: TicketRecord,
        topic: str | None,
        body: dict[str, Any] | None,
        *,
        expected_state: TicketState | None = None,
        applied_before: int | None = None,
        only: tuple[str, ...] | None = None,
    ) -> bool:
        """Save the ticket and (through its outbox) queue the next step; False, saving and
        queueing nothing, when a guard no longer holds. ``only`` limits the attributes written."""
        record.updated_at = time.time()
        entry = outbox_entry(topic, record.id, body) if topic is not None and body is not None else None

        def change(doc: dict[str, Any]) -> bool:
            if expected_state is not None and doc["state"] != expected_state.value:
                return False
            if applied_before is not None and int(doc.get("applied_seq", 0)) >= applied_before:
                return False
            keep: dict[str, Any] = {k: doc[k] for k in ("outbox", "outbox_pending", "outbox_since", "last_seq") if k in doc}
            new = ticket_doc(record)
            if only is not None:
                new = {k: v for k, v in new.items() if k in only or k == "updated_at"}
            doc.update(new)
            doc.update(keep)
            doc["last_seq"] = max(int(keep.get("last_seq", 0)), record.applied_seq)
            if entry is not None:
                add_to_outbox(doc, entry)
            return True

        stored = await self.update(record.tenant, record.id, change)
        if stored is None:
            return False
        if entry is not None:
            await self.flush_outbox(record.tenant, record.id, [entry], raise_on_failure=False)
        return True

    async def flush_outbox(
        self, tenant: str, ticket_id: str, entries: builtins.list[dict[str, Any]], *, raise_on_failure: bool
    ) -> bool:
        """Publish ``entries`` and then remove them from the ticket's outbox. When publishing
        fails the entries stay (the reconciler retries); raises only if asked to."""
        assert self.bus is not None, "publishing needs a bus"
        try:
            for e in entries:
                await self.bus.publish(e["topic"], e["key"], e["body"])
        except Exception as exc:  # noqa: BLE001 - the outbox keeps it; the reconciler retries
            log.warning("publish for ticket %s failed; left in its outbox: %s", ticket_id, exc)
            if raise_on_failure:
                raise
            return False
        done = {e["id"] for e in entries}

        def clear(doc: dict[str, Any]) -> bool:
            before = doc.get("outbox") or []
            after = [e for e in before if e["id"] not in done]
            if len(after) == len(before):
                return False
            doc["outbox"] = after
            doc["outbox_pending"] = bool(after)
            doc["outbox_since"] = min((e["at"] for e in after), default=0.0)
            return True

        try:
            await self.update(tenant, ticket_id, clear)
        except Exception as exc:  # noqa: BLE001 - a stale entry is re-published: harmless
            log.warning("could not clear the outbox of ticket %s: %s", ticket_id, exc)
        return True

    async def stuck(self, older_than_s: float, limit: int = 100) -> builtins.list[dict[str, Any]]:
        """Tickets (every tenant) whose outbox has held an entry for longer than ``older_than_s``."""
        sql = (
            "SELECT TOP @n * FROM c WHERE c.type='ticket' AND c.outbox_pending = true"
            " AND c.outbox_since < @cutoff"
        )
        async with unavailable_on_failure("outbox scan"):
            return await _query(self._c, sql, {"@n": limit, "@cutoff": time.time() - older_than_s})

    async def count_by_state(self, tenant: str | None = None) -> dict[str, int]:
        """Counts per state (client-side: GROUP BY needs more than the emulator offers, and
        this serves only /healthz and the dashboard's summary)."""
        sql = "SELECT VALUE c.state FROM c WHERE c.type='ticket'"
        params: dict[str, Any] = {}
        if tenant is not None:
            sql += " AND c.tenant=@t"
            params["@t"] = tenant
        async with unavailable_on_failure("count tickets"):
            states: Any = await _query(self._c, sql, params)
        out: dict[str, int] = {}
        for s in states:
            out[str(s)] = out.get(str(s), 0) + 1
        return out


def outbox_entry(topic: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"id": secrets.token_hex(8), "topic": topic, "key": key, "body": body, "at": time.time()}


def add_to_outbox(doc: dict[str, Any], entry: dict[str, Any]) -> None:
    doc["outbox"] = [*(doc.get("outbox") or []), entry]
    doc["outbox_pending"] = True
    doc["outbox_since"] = min(e["at"] for e in doc["outbox"])


class CosmosDeadLetterStore:
    """Dead letters in the events container (``type: dead_letter``)."""

    def __init__(self, docs: CosmosDocuments, tickets: CosmosTicketRepository) -> None:
        self._c = docs.events
        self._tickets = tickets

    async def add(self, record: DeadLetterRecord) -> None:
        async with unavailable_on_failure("dead letter"):
            await self._c.upsert_item(dead_letter_doc(record))

    async def list(
        self, tenant: str, *, include_replayed: bool, limit: int, before: tuple[float, str] | None
    ) -> list[DeadLetterRecord]:
        sql = "SELECT TOP @n * FROM c WHERE c.tenant=@t AND c.type='dead_letter'"
        params: dict[str, Any] = {"@n": limit, "@t": tenant}
        if not include_replayed:
            sql += " AND c.replayed = false"
        if before is not None:
            sql += " AND (c.created_at < @ca OR (c.created_at = @ca AND c.id < @id))"
            params["@ca"], params["@id"] = before
        sql += " ORDER BY c.created_at DESC, c.id DESC"
        async with unavailable_on_failure("list dead letters"):
            docs = await _query(self._c, sql, params)
        return [dead_letter_record(d) for d in docs]

    async def get(self, tenant: str, dead_letter_id: str) -> DeadLetterRecord | None:
        async with unavailable_on_failure("read dead letter"):
            try:
                doc = await self._c.read_item(dead_letter_id, partition_key=tenant)
            except ResourceNotFoundError:
                return None
        return dead_letter_record(doc) if doc.get("type") == "dead_letter" else None

    async def mark_replayed(self, dead_letter_id: str) -> None:
        # The port names no tenant: find the partition first (a cross-partition point query).
        async with unavailable_on_failure("mark replayed"):
            docs = await _query(
                self._c,
                "SELECT * FROM c WHERE c.id=@id AND c.type='dead_letter'",
                {"@id": dead_letter_id},
            )
            for doc in docs:
                await self._c.patch_item(
                    dead_letter_id,
                    partition_key=doc["tenant"],
                    patch_operations=[{"op": "set", "path": "/replayed", "value": True}],
                )

    async def requeue(self, record: DeadLetterRecord, reset_state: TicketState) -> None:
        """Put the ticket back in ``reset_state`` and its message back on its topic (through
        the ticket's outbox), then mark the dead letter replayed."""
        assert record.body is not None and record.topic
        entry = outbox_entry(record.topic, record.ticket_id, record.body)

        def change(doc: dict[str, Any]) -> bool:
            doc["state"] = reset_state.value
            doc["error"] = ""
            doc["updated_at"] = time.time()
            add_to_outbox(doc, entry)
            return True

        if await self._tickets.update(record.tenant, record.ticket_id, change) is None:
            raise Unavailable("the dead letter's ticket is missing", reason="TICKET_MISSING")
        await self._tickets.flush_outbox(
            record.tenant, record.ticket_id, [entry], raise_on_failure=False
        )
        async with unavailable_on_failure("mark replayed"):
            await self._c.patch_item(
                record.id,
                partition_key=record.tenant,
                patch_operations=[{"op": "set", "path": "/replayed", "value": True}],
            )


class CosmosTimeline:
    """Per-ticket step events in the events container (``type: event``)."""

    def __init__(self, docs: CosmosDocuments) -> None:
        self._c = docs.events

    async def record(self, tenant: str, event: TicketEvent) -> None:
        doc = asdict(event)
        doc.update(
            id=new_id("ev"),
            tenant=tenant,
            type="event",
            recorded_ns=time.time_ns(),
            error=event.error[:2000],
            detail=event.detail[:2000],
        )
        async with unavailable_on_failure("timeline"):
            await self._c.create_item(doc)

    async def events(self, tenant: str, ticket_id: str) -> list[TicketEvent]:
        sql = (
            "SELECT * FROM c WHERE c.tenant=@t AND c.type='event' AND c.ticket_id=@k"
            " ORDER BY c.recorded_ns ASC, c.id ASC"
        )
        async with unavailable_on_failure("timeline"):
            docs = await _query(self._c, sql, {"@t": tenant, "@k": ticket_id})
        return [
            TicketEvent(
                d["ticket_id"], d["step"], int(d["attempt"]), float(d["started_at"]),
                float(d["finished_at"]), d["outcome"], d.get("error", ""), d.get("detail", ""),
            )
            for d in docs
        ]


class CosmosExampleStore:
    """The technicians' labelled examples (``teams.shadow``) as ``type: example`` documents in
    the events container, so that what retraining learns from outlives any pod.

    Same calls and row shape as ``ShadowStore.add_example`` / ``examples``; a row's ``id`` is its
    ``recorded_ns`` (an increasing cursor across the tenant's examples, as SQLite's row id is).
    Examples are written once and never changed.
    """

    def __init__(self, docs: CosmosDocuments) -> None:
        self._c = docs.events

    async def add_example(
        self,
        tenant: str,
        ticket_id: str,
        kind: str,
        title: str,
        description: str,
        labels: dict[str, str] | Any,
        predicted: dict[str, Any] | Any,
        model_version: str,
    ) -> None:
        doc = {
            "id": new_id("ex"),
            "tenant": tenant,
            "type": "example",
            "recorded_ns": time.time_ns(),
            "ticket_id": ticket_id,
            "kind": kind,
            "title": title,
            "description": description,
            "category": labels.get("category", ""),
            "priority": labels.get("priority", ""),
            "queue": labels.get("queue", ""),
            "technician": labels.get("technician", ""),
            "predicted": dict(predicted),
            "model_version": model_version,
            "created_at": time.time(),
        }
        async with unavailable_on_failure("examples"):
            await self._c.create_item(doc)

    async def examples(
        self, tenant: str, *, after_id: int = 0, limit: int = 100_000
    ) -> list[dict[str, Any]]:
        sql = (
            "SELECT * FROM c WHERE c.tenant=@t AND c.type='example' AND c.recorded_ns > @after"
            " ORDER BY c.recorded_ns ASC, c.id ASC"
        )
        async with unavailable_on_failure("examples"):
            docs = await _query(self._c, sql, {"@t": tenant, "@after": int(after_id)})
        keys = ("tenant", "ticket_id", "kind", "title", "description", "category", "priority",
                "queue", "technician", "predicted", "model_version", "created_at")
        return [{"id": int(d["recorded_ns"]), **{k: d.get(k, "") for k in keys}} for d in docs[:limit]]


class CosmosFeatureStore:
    """Each ticket's embedding as a ``type: feature`` document beside the ticket."""

    def __init__(self, docs: CosmosDocuments) -> None:
        self._c = docs.tickets

    async def get(self, tenant: str, ticket_id: str, text_sha256: str, model_id: str) -> bytes | None:
        async with unavailable_on_failure("features"):
            try:
                doc = await self._c.read_item(f"feat-{ticket_id}", partition_key=tenant)
            except ResourceNotFoundError:
                return None
        if doc.get("text_sha256") != text_sha256 or doc.get("model_id") != model_id:
            return None
        return bytes.fromhex(doc["vector"])

    async def put(
        self, tenant: str, ticket_id: str, text_sha256: str, model_id: str, dim: int, vector: bytes
    ) -> None:
        async with unavailable_on_failure("features"):
            await self._c.upsert_item(
                {
                    "id": f"feat-{ticket_id}",
                    "tenant": tenant,
                    "type": "feature",
                    "ticket_id": ticket_id,
                    "text_sha256": text_sha256,
                    "model_id": model_id,
                    "dim": dim,
                    "vector": vector.hex(),
                    "created_at": time.time(),
                }
            )
