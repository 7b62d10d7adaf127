"""Retrain a tenant's model from what its technicians decided: ``omega model train --tenant T``.

The labels are the technicians' final fields: corrections, confirmed triages and resolutions,
and rejections that carried labels (``teams.shadow.learning``), optionally on top of a PSA
history export (a CSV). The features are the ones the pipeline stored when each ticket entered
it: the MiniLM vector is read back from the feature store (keyed by ticket, text digest and
embedder), so retraining does not embed those tickets again; only tickets without a stored
vector (CSV rows, or text that changed since) are embedded, through the on-disk cache.

The candidate goes through ``LocalTriage.train``: it is stored as a new version and becomes
current only if it beats the current model on the same held-out tickets. The running mesh reads
the tenant's ``current`` pointer on every ticket, so a promoted model serves the next ticket
without a restart, and every triage result names the version that produced it.

Runs out of process, against the same data folder (or Cosmos DB) as the mesh; the server itself
never trains on a tenant's tickets.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from teams.normalize import text_digest
from teams.shadow.learning import example_store, is_labelled, rows_from_examples
from titans.local.model import MIN_LABELLED, LabelledTicket
from titans.local.store import ModelStore

log = logging.getLogger(__name__)

_PAGE = 10_000  # examples read per query
_CONCURRENT_READS = 32  # feature-store reads in flight (Cosmos point reads; SQLite is local)


class NothingToTrainError(ValueError):
    """Too few labelled tickets (or categories) to train a model for the tenant."""


@dataclass(frozen=True)
class RetrainReport:
    """What a store retrain used and decided (``result`` is ``LocalTriage.train``'s outcome,
    None when the retrain was ``skipped``)."""

    result: Any  # titans.local.service.TrainResult | None
    examples: int  # labelled tickets from the technicians (latest label per ticket)
    history_rows: int  # rows from the history file that no example replaced
    stored_embeddings: int  # vectors read back from the feature store
    computed_embeddings: int  # vectors embedded now (through the on-disk cache)
    new_examples: int = 0  # labelled examples since the last training
    skipped: str = ""  # why nothing was trained (``min_new`` not reached)

    def as_dict(self) -> dict[str, Any]:
        base = (
            dataclasses.asdict(self.result)
            if self.result is not None
            else {"promoted": False, "reason": self.skipped}
        )
        return {
            **base,
            "examples": self.examples,
            "history_rows": self.history_rows,
            "stored_embeddings": self.stored_embeddings,
            "computed_embeddings": self.computed_embeddings,
            "new_examples": self.new_examples,
            "skipped": bool(self.skipped),
        }


async def labelled_examples(store: Any, tenant: str) -> list[dict[str, Any]]:
    """Every example of ``tenant`` (``example_store``), oldest first, with their ids."""
    shadow = example_store(store)
    examples: list[dict[str, Any]] = []
    after = 0
    while True:
        page = await shadow.examples(tenant, after_id=after, limit=_PAGE)
        examples.extend(page)
        if len(page) < _PAGE:
            break
        after = int(page[-1]["id"])
    return examples


def feature_digest(row: LabelledTicket) -> str:
    """The digest the triage step stores a ticket's vector under (see teams/triage/step.py)."""
    return text_digest({"title": row.text, "description": ""})


async def stored_vectors(
    features: Any, tenant: str, rows: Sequence[LabelledTicket], model_id: str, dim: int
) -> list[np.ndarray | None]:
    """Each row's vector from the feature store, or None (no ticket id, not stored, the text
    changed since it was embedded, another embedder, or a malformed entry)."""
    sem = asyncio.Semaphore(_CONCURRENT_READS)

    async def one(row: LabelledTicket) -> np.ndarray | None:
        if not row.ticket_id:
            return None
        async with sem:
            blob = await features.get(tenant, row.ticket_id, feature_digest(row), model_id)
        if blob is None or len(blob) != dim * 4:
            return None
        vector = np.frombuffer(blob, dtype=np.float32)
        return vector if np.all(np.isfinite(vector)) else None

    return list(await asyncio.gather(*(one(r) for r in rows)))


def merge_rows(
    history: Sequence[LabelledTicket], examples: Sequence[LabelledTicket]
) -> tuple[list[LabelledTicket], int]:
    """History rows first, then the examples; an example replaces a history row with the same
    ticket id (the technician's label is the newer truth). Returns (rows, history rows kept)."""
    replaced = {r.ticket_id for r in examples if r.ticket_id}
    kept = [r for r in history if not (r.ticket_id and r.ticket_id in replaced)]
    return [*kept, *examples], len(kept)


@dataclass
class Gathered:
    """The rows to train on (with their vectors) and where they came from."""

    rows: list[LabelledTicket]
    examples: int  # labelled tickets from the technicians (latest label per ticket)
    history_rows: int  # history rows no example replaced
    examples_through: int  # the highest example id read (recorded with the candidate)
    new_examples: int  # labelled examples recorded after the last training's
    stored: int = 0  # vectors read back from the feature store
    computed: int = 0  # vectors embedded now


async def gather_training_rows(
    store: Any,
    tenant: str,
    history: Sequence[LabelledTicket],
    embedder: Any | None,
    cache_dir: Path | None,
    *,
    since: int = 0,
    min_new: int = 0,
) -> Gathered:
    """The rows to train on with their vectors; with ``min_new``, stop before embedding when
    fewer labelled examples than that arrived after example id ``since`` (``rows`` empty)."""
    raw = await labelled_examples(store, tenant)
    through = max((int(e["id"]) for e in raw), default=since)
    new = sum(1 for e in raw if is_labelled(e) and int(e["id"]) > since)
    examples = rows_from_examples(raw)
    if min_new and new < min_new:
        return Gathered([], len(examples), 0, through, new)
    rows, kept = merge_rows(history, examples)
    categories = {r.category for r in rows}
    if len(rows) < MIN_LABELLED or len(categories) < 2:
        raise NothingToTrainError(
            f"tenant {tenant!r} has {len(rows)} labelled ticket(s) in {len(categories)}"
            f" categor{'y' if len(categories) == 1 else 'ies'}; a model needs at least"
            f" {MIN_LABELLED} in 2 or more (technicians' corrections, confirmed triages and"
            " resolutions count; add a history export with --data)"
        )
    out = Gathered(rows, len(examples), kept, through, new)
    if embedder is None:
        return out
    vectors = await stored_vectors(store.features, tenant, rows, embedder.model_id, embedder.dim)
    missing = [i for i, v in enumerate(vectors) if v is None]
    if missing:
        texts = [rows[i].text for i in missing]
        if cache_dir is not None:
            from titans.local.embedding import EmbeddingCache

            cache = EmbeddingCache(cache_dir, embedder.model_id)
            fresh = cache.embed_saving_as_it_goes(embedder, texts)
        else:
            fresh = embedder.embed(texts)
        for i, vector in zip(missing, fresh, strict=True):
            vectors[i] = vector
    out.rows = [dataclasses.replace(r, embedding=v) for r, v in zip(rows, vectors, strict=True)]
    out.stored, out.computed = len(rows) - len(missing), len(missing)
    return out


async def _collect(
    open_store: Callable[[], Any],
    tenant: str,
    history: Sequence[LabelledTicket],
    embedder: Any | None,
    cache_dir: Path | None,
    since: int,
    min_new: int,
) -> Gathered:
    store = open_store()  # inside the loop: the Cosmos and Blob clients bind to it
    try:
        return await gather_training_rows(
            store, tenant, history, embedder, cache_dir, since=since, min_new=min_new
        )
    finally:
        aclose = getattr(store, "aclose", None)
        if aclose is not None:
            await aclose()
        else:
            store.close()


def last_examples_through(models: ModelStore, tenant: str) -> int:
    """The highest example id the tenant's newest stored version was trained on (0: none)."""
    for version in reversed(models.versions(tenant)):
        through = models.meta(tenant, version).get("examples_through")
        if isinstance(through, int):
            return through
    return 0


def retrain_tenant(
    open_store: Callable[[], Any],
    models: Path | ModelStore,
    tenant: str,
    *,
    history: Sequence[LabelledTicket] = (),
    embedder: Any | None = None,
    cache_dir: Path | None = None,
    target_precision: float = 0.95,
    min_new: int = 0,
) -> RetrainReport:
    """Train a candidate for ``tenant`` from its labelled tickets (plus ``history``) and promote
    it only if it beats the current model on the same held-out tickets.

    ``open_store`` opens the mesh's store (``backends.factory.open_store``): its shadow tables
    hold the labels, its feature store the vectors; it is closed before training starts.
    ``models``: the tenant model store (``backends.factory.open_model_store``) or a folder.
    ``embedder=None`` trains sparse models only. ``min_new``: train only when at least this
    many labelled examples arrived since the last training (for a schedule); otherwise the
    report says ``skipped`` and nothing is trained or stored.
    """
    from titans.local.classifier import ClassifierConfig
    from titans.local.service import LocalTriage

    store = models if isinstance(models, ModelStore) else ModelStore(models)
    since = last_examples_through(store, tenant) if min_new else 0
    got = asyncio.run(_collect(open_store, tenant, history, embedder, cache_dir, since, min_new))
    if not got.rows:
        reason = (
            f"{got.new_examples} new labelled ticket(s) since the last training"
            f" (at least {min_new} wanted)"
        )
        log.info("retraining tenant %s skipped: %s", tenant, reason)
        return RetrainReport(
            None, got.examples, 0, 0, 0, new_examples=got.new_examples, skipped=reason
        )
    log.info(
        "retraining tenant %s on %d tickets (%d labelled by technicians, %d from history);"
        " vectors: %d stored, %d computed",
        tenant,
        len(got.rows),
        got.examples,
        got.history_rows,
        got.stored,
        got.computed,
    )
    triage = LocalTriage(
        store.root,
        store=store,
        embedder=embedder,
        target_precision=target_precision,
        config=ClassifierConfig(use_embeddings=embedder is not None),
    )
    result = triage.train(
        tenant,
        got.rows,
        by="omega model train",
        extra_meta={"examples_through": got.examples_through},
    )
    return RetrainReport(
        result,
        got.examples,
        got.history_rows,
        got.stored,
        got.computed,
        new_examples=got.new_examples,
    )
