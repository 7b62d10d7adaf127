"""Read-only triage: what the pipeline would decide for a text or a PSA payload, stored nowhere.

Uses the same ``triage`` and ``embedder`` objects as the pipeline's TriageStep (the mesh puts
them in ``ctx.services``), so an answer here matches what ingesting the ticket would produce.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from backends.records import TicketRecord, TicketState
from connectors import registry
from connectors.contract import Picklists, Source
from federation.errors import FailedPrecondition, InvalidArgument, NotFound
from mesh.settings import TenantDirectory
from teams.triage.step import Embedder, SimilarFinder, Triager, decision_to_dict

log = logging.getLogger(__name__)

DEFAULT_SIMILAR = 3
MAX_SIMILAR = 20
MAX_TEXT_CHARS = 20_000
SCAN_LIMIT = 500  # tickets the keyword fallback of find_similar compares with
_WORD = re.compile(r"[a-z0-9]{3,}")


class TicketReader(Protocol):
    """The reads this service needs from the ticket store."""

    async def get(self, tenant: str, ticket_id: str) -> TicketRecord | None: ...

    async def list(
        self,
        tenant: str,
        *,
        state: TicketState | None,
        limit: int,
        before: tuple[float, str] | None,
    ) -> list[TicketRecord]: ...


@dataclass(frozen=True)
class TextTriage:
    """A triage with the text it was made from (normalized from a payload when one was given)."""

    title: str
    description: str
    source: Source | None
    triage: dict[str, Any]


def _words(text: str) -> Counter[str]:
    return Counter(_WORD.findall(text.lower()))


def keyword_similarity(a: Counter[str], b: Counter[str]) -> float:
    """Cosine similarity of two bags of words, 0..1."""
    if not a or not b:
        return 0.0
    dot = sum(count * b[word] for word, count in a.items() if word in b)
    norm = math.sqrt(sum(c * c for c in a.values())) * math.sqrt(sum(c * c for c in b.values()))
    return dot / norm if norm else 0.0


class TicketTriageService:
    """Triage without side effects, similar tickets, and the tenant's categories."""

    def __init__(
        self,
        triager: Triager,
        tenants: TenantDirectory,
        tickets: TicketReader,
        *,
        embedder: Embedder | None = None,
        similar: SimilarFinder | None = None,
        executor: ThreadPoolExecutor | None = None,
    ) -> None:
        self._triager = triager
        self._tenants = tenants
        self._tickets = tickets
        self._embedder = embedder
        self.similar = similar
        self._executor = executor

    async def _run(self, fn: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def triage_text(
        self,
        tenant: str,
        title: str,
        description: str,
        *,
        source_priority: str = "",
        alert_severity: str = "",
        similar_count: int = 0,
    ) -> dict[str, Any]:
        """The triage of one ticket text, with similar past tickets when memory is available."""
        self._tenants.get(tenant)
        title, description = title.strip(), description.strip()
        text = f"{title}\n{description}".strip()
        if not text:
            raise InvalidArgument("give a title or description to triage", reason="EMPTY_TEXT")
        if len(text) > MAX_TEXT_CHARS:
            raise InvalidArgument(
                f"ticket text is longer than {MAX_TEXT_CHARS} characters", reason="TEXT_TOO_LONG"
            )
        count = min(similar_count or DEFAULT_SIMILAR, MAX_SIMILAR)
        embedding = await self._embedding(tenant, text)
        decision = await self._run(
            lambda: self._triager.triage(
                tenant,
                title=title,
                description=description,
                source_priority=source_priority,
                alert_severity=alert_severity,
                embedding=embedding,
            )
        )
        triage = decision_to_dict(decision)
        triage["similar"] = await self._similar(tenant, text, embedding, count, exclude="")
        return triage

    async def triage_payload(
        self, tenant: str, payload: bytes, source: Source | None, *, similar_count: int = 0
    ) -> TextTriage:
        """Normalize a raw PSA payload (as ingest would) and triage it; nothing is stored."""
        picklists = Picklists()
        if source is not None:
            picklists = Picklists(self._tenants.get(tenant).picklists.get(source.value, {}))
        ticket = registry.normalize_payload(payload, source, picklists)
        if ticket.is_trigger and not (ticket.title or ticket.description):
            raise FailedPrecondition(
                "the payload only announces a ticket (a webhook trigger) and carries no text",
                reason="TRIGGER_WITHOUT_TEXT",
            )
        triage = await self.triage_text(
            tenant,
            ticket.title,
            ticket.description,
            source_priority=ticket.priority,
            alert_severity=ticket.alert_severity,
            similar_count=similar_count,
        )
        return TextTriage(ticket.title, ticket.description, ticket.source, triage)

    async def find_similar(
        self, tenant: str, *, ticket_id: str = "", text: str = "", limit: int = 5
    ) -> list[dict[str, Any]]:
        """Past tickets like a stored ticket (by id) or like a text, most similar first."""
        self._tenants.get(tenant)
        if bool(ticket_id) == bool(text.strip()):
            raise InvalidArgument("give exactly one of ticket_id or text", reason="BAD_QUERY")
        if ticket_id:
            record = await self._tickets.get(tenant, ticket_id)
            if record is None:
                raise NotFound(f"no ticket {ticket_id!r}", reason="TICKET_NOT_FOUND")
            text = f"{record.fields.get('title', '')}\n{record.fields.get('description', '')}"
        text = text.strip()[:MAX_TEXT_CHARS]
        embedding = await self._embedding(tenant, text) if self.similar is not None else None
        return await self._similar(
            tenant, text, embedding, min(limit or 5, MAX_SIMILAR), exclude=ticket_id
        )

    async def categories(self, tenant: str) -> tuple[list[str], str]:
        """The tenant's model's category labels and its version (empty without a model)."""
        self._tenants.get(tenant)
        model_of = getattr(self._triager, "model", None)
        if not callable(model_of):
            return [], ""
        model = await self._run(lambda: model_of(tenant))
        head = model.heads.get("category")
        return (sorted(head.classes) if head is not None else []), str(model.version)

    async def _embedding(self, tenant: str, text: str) -> np.ndarray | None:
        if self._embedder is None:
            return None
        needs = await self._run(lambda: self._triager.needs_embedding(tenant))
        if not needs and self.similar is None:
            return None
        embedder = self._embedder
        vector = await self._run(lambda: embedder.embed([text])[0])
        return np.asarray(vector, dtype=np.float32)

    async def _similar(
        self, tenant: str, text: str, embedding: np.ndarray | None, count: int, *, exclude: str
    ) -> list[dict[str, Any]]:
        if self.similar is not None:
            try:
                found = await self.similar(tenant, text, embedding, count + (1 if exclude else 0))
                kept = [s for s in found if s.get("ticket_id") != exclude][:count]
                if kept:
                    return kept
                # A tenant whose memory holds no resolved tickets yet: compare with its tickets.
            except Exception:  # noqa: BLE001 - memory is an enrichment; fall back to keywords
                log.exception("recall of similar tickets failed; using keyword similarity")
        return await self._keyword_similar(tenant, text, count, exclude=exclude)

    async def _keyword_similar(
        self, tenant: str, text: str, count: int, *, exclude: str
    ) -> list[dict[str, Any]]:
        """Without the Context Server: bag-of-words cosine over the tenant's recent tickets."""
        records = await self._tickets.list(tenant, state=None, limit=SCAN_LIMIT, before=None)
        query = _words(text)
        scored: list[tuple[float, Any]] = []
        for record in records:
            if record.id == exclude:
                continue
            f = record.fields
            score = keyword_similarity(
                query, _words(f"{f.get('title', '')} {f.get('description', '')}")
            )
            if score > 0.0:
                scored.append((score, record))
        scored.sort(key=lambda pair: pair[0], reverse=True)
        return [_similar_dict(score, record) for score, record in scored[:count]]


def _similar_dict(score: float, record: Any) -> dict[str, Any]:
    triage = record.triage or {}
    category = triage.get("category") or {}
    return {
        "ticket_id": record.id,
        "title": str(record.fields.get("title", "")),
        "resolution": str(record.fields.get("extra", {}).get("resolution", "")),
        "score": round(float(score), 4),
        "category": str(category.get("label", "")) if isinstance(category, dict) else "",
    }
