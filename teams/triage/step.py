"""The triage step: embed the ticket once, ask the local Titan, attach similar past tickets."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np

from backends.records import TicketState
from backends.sqlite.adapters import EmbeddedStore
from teams.normalize import text_digest
from titans.local.textprep import ticket_text

log = logging.getLogger(__name__)

TOPIC_TRIAGED = "ticket.triaged"
MAX_CAS_ATTEMPTS = 5


class Embedder(Protocol):
    dim: int
    model_id: str

    def embed(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray: ...


class Triager(Protocol):
    """The local Titan (titans.local.service.LocalTriage) as the pipeline sees it."""

    def triage(
        self,
        tenant: str,
        *,
        title: str,
        description: str,
        source_priority: str = "",
        alert_severity: str = "",
        embedding: np.ndarray | None = None,
    ) -> Any: ...

    def needs_embedding(self, tenant: str) -> bool: ...


# (tenant, text, embedding, top_k) -> similar resolved tickets as dicts
SimilarFinder = Callable[[str, str, np.ndarray | None, int], Awaitable[list[dict[str, Any]]]]


def decision_to_dict(decision: Any) -> dict[str, Any]:
    """The triage decision as stored with the ticket (plain JSON)."""
    if dataclasses.is_dataclass(decision) and not isinstance(decision, type):
        out = dataclasses.asdict(decision)
    else:
        out = dict(decision)
    out["triaged_at"] = time.time()
    return out


class TriageStep:
    name = "ticket.normalized"

    def __init__(
        self,
        store: EmbeddedStore,
        triager: Triager,
        *,
        embedder: Embedder | None = None,
        similar: SimilarFinder | None = None,
        executor: ThreadPoolExecutor | None = None,
        next_topic: str | None = None,
        batcher: Any | None = None,
        second_opinion: Any | None = None,
    ) -> None:
        self._store = store
        self._triager = triager
        self._embedder = embedder
        self.similar = similar
        self._executor = executor or ThreadPoolExecutor(max_workers=2, thread_name_prefix="triage")
        self.next_topic = next_topic
        # Concurrent tickets share one embed call (context.embedding.MicroBatcher): batching
        # is several times cheaper per ticket than one-by-one on 2 cores.
        self._batcher = batcher
        # A cloud Titan router (titans.router.TitanRouter), only when one is configured: asked
        # for a second opinion on tickets below the local model's confidence threshold.
        self.second_opinion = second_opinion

    async def handle(self, body: Mapping[str, Any]) -> str:
        tenant, ticket_id = str(body["tenant"]), str(body["ticket_id"])
        record = await self._store.tickets.get(tenant, ticket_id)
        if record is None or record.state is not TicketState.NORMALIZED:
            return "skipped"  # triaged already, deleted, or superseded
        if text_digest(record.fields) != body.get("text_sha256", text_digest(record.fields)):
            return "skipped"  # a newer version of the text is on its way
        fields = record.fields
        title, description = str(fields.get("title", "")), str(fields.get("description", ""))
        text = f"{title}\n{description}".strip()
        if not text:
            record.triage = {
                "needs_review": True,
                "reasons": [
                    "the payload carried no ticket text (a webhook trigger): fetch the ticket "
                    "from the PSA, or wait for the next update"
                ],
                "model_version": "",
                "decided_by": "",
                "triaged_at": time.time(),
            }
            record.state = TicketState.NEEDS_REVIEW
            saved = await self._store.tickets.save(record, expected_state=TicketState.NORMALIZED)
            return "ok" if saved else "skipped"

        # The local model was trained on MiniLM vectors of this exact normalised text.
        embedding = await self._embedding(tenant, ticket_id, ticket_text(title, description))
        loop = asyncio.get_running_loop()
        decision = await loop.run_in_executor(
            self._executor,
            lambda: self._triager.triage(
                tenant,
                title=title,
                description=description,
                source_priority=str(fields.get("priority", "")),
                alert_severity=str(fields.get("alert_severity", "")),
                embedding=embedding,
            ),
        )
        triage = decision_to_dict(decision)
        if triage.get("needs_review") and self.second_opinion is not None:
            await self._ask_second_opinion(tenant, ticket_id, title, description, triage)
        if self.similar is not None:
            try:
                triage["similar"] = await self.similar(tenant, text, embedding, 3)
            except Exception:  # noqa: BLE001 - memory is an enrichment, never a blocker
                log.exception("recall of similar tickets failed for %s", ticket_id)
                triage["similar"] = []
        state = TicketState.NEEDS_REVIEW if triage.get("needs_review") else TicketState.TRIAGED
        digest = text_digest(record.fields)
        # Triage took a while, and an update of the same ticket may have been normalized
        # meanwhile: write only the triage and the state (never the fields read before), guarded
        # on the state and the arrival sequence of a fresh read.
        for _ in range(MAX_CAS_ATTEMPTS):
            fresh = await self._store.tickets.get(tenant, ticket_id)
            if (
                fresh is None
                or fresh.state is not TicketState.NORMALIZED
                or text_digest(fresh.fields) != digest
            ):
                return "skipped"  # triaged by an overlapping delivery, or new text is on its way
            fresh.triage, fresh.state = triage, state
            saved = await self._store.tickets.save_and_publish(
                fresh,
                self.next_topic,
                {"tenant": tenant, "ticket_id": ticket_id} if self.next_topic else None,
                expected_state=TicketState.NORMALIZED,
                applied_before=fresh.applied_seq + 1,
                only=("triage", "state"),
            )
            if saved:
                if self.next_topic:
                    self._store.bus.notify()
                return "ok"
        raise RuntimeError(f"ticket {ticket_id} kept changing while its triage was saved")

    async def _ask_second_opinion(
        self, tenant: str, ticket_id: str, title: str, description: str, triage: dict[str, Any]
    ) -> None:
        """A cloud Titan's opinion on a ticket the local model was unsure about.

        The answer is recorded (which Titan, its category and rationale); it settles the ticket
        only when it agrees with the local model's own top choice, so a single uncalibrated
        LLM answer never removes the human review on its own.
        """
        from titans.base import TicketData

        category = triage.get("category") or {}
        allowed = tuple(str(a[0]) for a in category.get("alternatives", []) or [])
        try:
            result = await self.second_opinion.triage_second_opinion(
                tenant,
                TicketData(
                    ticket_id=ticket_id,
                    subject=title,
                    body=description,
                    allowed_categories=allowed,
                    local_category=str(category.get("label", "")),
                    local_priority=str((triage.get("priority") or {}).get("label", "")),
                    local_confidence=float(category.get("confidence", 0.0)),
                ),
                local_confidence=float(category.get("confidence", 0.0)),
                threshold=1.0,  # the local model already abstained
            )
        except Exception:  # noqa: BLE001 - the local decision stands
            log.exception("second opinion failed for %s", ticket_id)
            return
        if result.decided_by == "local" or result.needs_review:
            triage["reasons"] = [*triage.get("reasons", []), f"no cloud second opinion ({result.fallback_reason})"]
            return
        opinion = result.output
        label = str(getattr(opinion, "category", ""))
        triage["second_opinion"] = {
            "decided_by": result.decided_by,
            "model": result.model,
            "category": label,
            "confidence": float(getattr(opinion, "confidence", 0.0)),
            "rationale": str(getattr(opinion, "rationale", "")),
            "cost_usd": result.cost_usd,
        }
        triage["reasons"] = [
            *triage.get("reasons", []),
            f"second opinion from {result.decided_by}: {label}",
        ]
        if label and label == category.get("label"):
            triage["decided_by"] = result.decided_by
            triage["needs_review"] = False
            category["needs_review"] = False

    async def _embedding(self, tenant: str, ticket_id: str, text: str) -> np.ndarray | None:
        """The ticket's embedding: computed once per text version, stored, then reused."""
        # Needed by the model, or by the similar-ticket recall that reuses it.
        if self._embedder is None or (
            self.similar is None and not self._triager.needs_embedding(tenant)
        ):
            return None
        digest = text_digest({"title": text, "description": ""})
        stored = await self._store.features.get(tenant, ticket_id, digest, self._embedder.model_id)
        if stored is not None:
            return np.frombuffer(stored, dtype=np.float32)
        embedder = self._embedder
        if self._batcher is not None:
            vector = await self._batcher.embed_one(text)
        else:
            loop = asyncio.get_running_loop()
            vector = await loop.run_in_executor(self._executor, lambda: embedder.embed([text])[0])
        vector = np.asarray(vector, dtype=np.float32)
        await self._store.features.put(
            tenant, ticket_id, digest, embedder.model_id, int(vector.shape[0]), vector.tobytes()
        )
        return vector
