"""The local Titan: per-tenant triage with calibrated confidence, abstention and versioned models.

``LocalTriage.triage`` is what the pipeline calls for every ticket; ``LocalTriage.train`` is what
``omega model train`` and continuous learning call with a tenant's resolved tickets.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from titans.local.classifier import ClassifierConfig
from titans.local.embedding import MiniLMEmbedder
from titans.local.history import load_demo_history
from titans.local.language import UNDETERMINED, LanguageDetector
from titans.local.metrics import classification_report, label_indices
from titans.local.model import LabelledTicket, TriageModel
from titans.local.rules import PriorityRuleConfig, PriorityRules
from titans.local.store import ModelNotFoundError, ModelStore, PromotionConflict, check_tenant
from titans.local.textprep import ticket_text

__all__ = ["LabelledTicket", "LocalTriage", "Prediction", "TrainResult", "TriageDecision"]

logger = logging.getLogger(__name__)

HOLDOUT_SHARE = 0.2
MIN_HOLDOUT_ROWS = 50


@dataclass(frozen=True)
class Prediction:
    """One predicted field. ``alternatives`` are the next most probable labels (up to 3).

    ``method``: "learned" (calibrated model probability), "rules" (transparent cue scoring, no
    probability: confidence 0.0) or "source" (taken from the PSA as given).
    """

    label: str
    confidence: float
    alternatives: list[tuple[str, float]]
    method: str
    needs_review: bool


@dataclass(frozen=True)
class TriageDecision:
    """The local Titan's triage of one ticket, with the model version that produced it."""

    category: Prediction
    priority: Prediction
    queue: Prediction | None
    technician: Prediction | None
    needs_review: bool
    reasons: list[str]
    model_version: str
    language: str
    decided_by: str = "local"


@dataclass(frozen=True)
class TrainResult:
    """Outcome of a training run: the candidate, the incumbent, and whether it was promoted."""

    tenant: str
    version: str
    promoted: bool
    current_version: str | None
    candidate: dict[str, float]
    incumbent: dict[str, float] | None
    n_train: int
    n_holdout: int
    seconds: float
    reason: str


def is_holdout(ticket: LabelledTicket) -> bool:
    """Stable membership of the comparison hold-out set (same tickets on every retrain)."""
    key = ticket.ticket_id or ticket.text
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return digest[0] < int(256 * HOLDOUT_SHARE)


def _prediction(classes: list[str], proba: np.ndarray, threshold: float) -> Prediction:
    order = np.argsort(-proba)
    best = int(order[0])
    conf = float(proba[best])
    alts = [(classes[int(i)], round(float(proba[int(i)]), 4)) for i in order[1:4]]
    return Prediction(classes[best], round(conf, 4), alts, "learned", conf < threshold)


class LocalTriage:
    """Per-tenant triage models on disk, loaded lazily; thread-safe."""

    def __init__(
        self,
        models_dir: Path,
        *,
        embedder: MiniLMEmbedder | None = None,
        demo_history: Path | None = None,
        target_precision: float = 0.95,
        rules: PriorityRuleConfig | None = None,
        config: ClassifierConfig | None = None,
        tenant_rules: Mapping[str, PriorityRuleConfig] | None = None,
        target_precisions: Mapping[str, float] | None = None,
        store: ModelStore | None = None,
    ) -> None:
        """``rules``: the priority rules of every tenant without its own in ``tenant_rules``
        (the tenants file's ``[triage.<tenant>.priority]``, teams/triage/config.py).
        ``target_precision``: the precision a model's threshold holds, for every tenant without
        its own in ``target_precisions`` (``[tenants.<tenant>] target_precision``).
        ``store``: where versions live (default: the folder ``models_dir``; production passes
        the Blob store every pod shares, ``backends.factory.open_model_store``)."""
        self._store = store if store is not None else ModelStore(Path(models_dir))
        self._embedder = embedder
        self._demo_history = demo_history
        self._target_precision = target_precision
        self._target_precisions = dict(target_precisions or {})
        self._rules = PriorityRules(rules)
        self._tenant_rules = {t: PriorityRules(c) for t, c in (tenant_rules or {}).items()}
        self._config = config or ClassifierConfig()
        self._detector = LanguageDetector()
        self._lock = threading.Lock()
        self._tenant_locks: dict[str, threading.Lock] = {}
        self._models: dict[str, TriageModel] = {}

    # -- models -------------------------------------------------------------------------------
    def _tenant_lock(self, tenant: str) -> threading.Lock:
        with self._lock:
            return self._tenant_locks.setdefault(tenant, threading.Lock())

    def model(self, tenant: str) -> TriageModel:
        """The tenant's current model; a fresh tenant gets one trained from the demo history."""
        check_tenant(tenant)
        current = self._store.current_version(tenant)
        cached = self._models.get(tenant)
        if cached is not None and cached.version == current:
            return cached
        with self._tenant_lock(tenant):
            current = self._store.current_version(tenant)
            cached = self._models.get(tenant)
            if cached is not None and cached.version == current:
                return cached
            if current is None:
                model = self._train_default(tenant)
            else:
                model = self._store.load(tenant, current)
                if not self._embeddings_match(model):
                    model = self._on_embedding_change(tenant, model, current)
            if model.tenant != tenant:  # defence in depth; the store already checks
                raise PermissionError("model tenant mismatch")
            self._models[tenant] = model
            return model

    def _embeddings_match(self, model: TriageModel) -> bool:
        """Whether the model was trained on this embedder's vectors (same model and length)."""
        if not model.uses_embeddings or self._embedder is None or not model.embedding_model_id:
            return True
        return model.embedding_model_id == self._embedder.model_id

    def _on_embedding_change(self, tenant: str, model: TriageModel, version: str) -> TriageModel:
        """The embedder changed (e.g. OMEGA_EMBEDDING_MAX_TOKENS) since ``model`` was trained.

        A model trained on the demo history is simply retrained on the new vectors (a new
        version, promoted). A model trained on the tenant's own history keeps serving — the
        vectors come from the same network, cut at a different length — with a warning until
        ``omega model train`` retrains it; triage results still name the version used.
        """
        assert self._embedder is not None
        meta = self._store.meta(tenant, version)
        if meta.get("source") == "demo-history" and self._demo_history is not None:
            logger.info(
                "tenant %s: demo model %s was trained on %s embeddings, the embedder is now %s;"
                " retraining it",
                tenant, version, model.embedding_model_id, self._embedder.model_id,
            )
            return self._train_default(tenant, replacing=version)
        logger.warning(
            "tenant %s: model %s was trained on %s embeddings but the embedder is %s; run"
            " `omega model train` to retrain it on the current embeddings",
            tenant, version, model.embedding_model_id, self._embedder.model_id,
        )
        return model

    def _train_default(self, tenant: str, replacing: str | None = None) -> TriageModel:
        """Train and promote the demo-history model for ``tenant`` (whose current model is
        ``replacing``: none for a fresh tenant); if another process promoted first, serve its."""
        if self._demo_history is None:
            raise ModelNotFoundError("tenant has no model and no demo history is configured")
        rows = load_demo_history(self._demo_history)
        start = time.perf_counter()
        if self._embedder is not None and self._config.use_embeddings:
            # Every fresh tenant trains on the same demo texts: embed them once per install.
            from titans.local.embedding import EmbeddingCache

            cache = EmbeddingCache(self._store.root / ".embeddings", self._embedder.model_id)
            vectors = cache.embed(self._embedder, [r.text for r in rows])
            rows = [dataclasses.replace(r, embedding=v) for r, v in zip(rows, vectors, strict=True)]
        model = self._fit(tenant, rows)
        model.version = self._store.new_version(tenant)
        self._store.save(model, {"source": "demo-history"})
        try:
            self._store.promote(
                tenant, model.version, reason="first model: the demo history", by="omega",
                expected=replacing,
            )
        except PromotionConflict as exc:  # another pod or process got there first: use theirs
            logger.info("tenant %s: %s; serving %s", tenant, exc, exc.found)
            if exc.found is not None:
                return self._store.load(tenant, exc.found)
            raise
        logger.info(
            "trained default demo model %s in %.2fs", model.version, time.perf_counter() - start
        )
        return model

    def _embeddings(self, rows: Sequence[LabelledTicket]) -> np.ndarray | None:
        if all(r.embedding is not None for r in rows) and rows:
            return np.vstack([np.asarray(r.embedding, dtype=np.float32) for r in rows])
        if self._embedder is None or not self._config.use_embeddings:
            return None
        missing = [i for i, r in enumerate(rows) if r.embedding is None]
        out = np.zeros((len(rows), self._embedder.dim), dtype=np.float32)
        for i, r in enumerate(rows):
            if r.embedding is not None:
                out[i] = r.embedding
        if missing:
            out[missing] = self._embedder.embed([rows[i].text for i in missing])
        return out

    def _fit(self, tenant: str, rows: Sequence[LabelledTicket]) -> TriageModel:
        emb = self._embeddings(rows)
        return TriageModel.train(
            tenant,
            rows,
            embeddings=emb,
            embedding_model_id=self._embedder.model_id
            if self._embedder and emb is not None
            else "",
            config=self._config,
            target_precision=self._target_precisions.get(tenant, self._target_precision),
            detector=self._detector,
        )

    def needs_embedding(self, tenant: str) -> bool:
        """Whether the tenant's model uses MiniLM features (pass ``embedding=`` to triage)."""
        return self.model(tenant).uses_embeddings

    # -- inference ----------------------------------------------------------------------------
    def triage(
        self,
        tenant: str,
        *,
        title: str,
        description: str,
        source_priority: str = "",
        alert_severity: str = "",
        embedding: np.ndarray | None = None,
    ) -> TriageDecision:
        """Triage one ticket with the tenant's current model."""
        model = self.model(tenant)
        text = ticket_text(title, description)
        if model.uses_embeddings and embedding is None:
            if self._embedder is None:
                raise ValueError("the tenant's model needs the ticket embedding")
            embedding = self._embedder.embed([text])[0]
        out = model.predict_one(text, embedding if model.uses_embeddings else None, self._detector)
        reasons: list[str] = []
        preds: dict[str, Prediction] = {}
        for target, proba in out.proba.items():
            head = model.heads[target]
            pred = _prediction(head.classes, proba, head.threshold)
            preds[target] = pred
            verdict = "decided" if not pred.needs_review else "below threshold, needs review"
            reasons.append(
                f"{target} {pred.label}: p={pred.confidence:.2f}, threshold {head.threshold:.2f}, {verdict}"
            )
        if out.top_words:
            reasons.append("words: " + ", ".join(out.top_words))
        if out.neighbours:
            reasons.append(
                "similar past tickets: "
                + ", ".join(f"{tid or '?'} ({lab}, sim {s:.2f})" for tid, lab, s in out.neighbours)
            )
        category = preds["category"]
        needs_review = category.needs_review
        language = out.language
        if language != UNDETERMINED and language not in model.languages:
            needs_review = True
            trained = ", ".join(model.languages) or "none"
            reasons.append(f"unsupported language: {language} (model trained on: {trained})")
            category = Prediction(
                category.label, category.confidence, category.alternatives, category.method, True
            )
        priority = preds.get("priority")
        if priority is None:
            if source_priority.strip():
                priority = Prediction(source_priority.strip(), 1.0, [], "source", False)
                reasons.append("priority from the source system")
            else:
                scored = self._tenant_rules.get(tenant, self._rules).score(text, alert_severity)
                priority = Prediction(scored.level, 0.0, [], "rules", False)
                reasons.append(f"priority by rules (score {scored.score:g}, not learned)")
                reasons.extend(scored.reasons)
        return TriageDecision(
            category=category,
            priority=priority,
            queue=preds.get("queue"),
            technician=preds.get("technician"),
            needs_review=needs_review,
            reasons=reasons,
            model_version=model.version,
            language=language,
        )

    # -- training -----------------------------------------------------------------------------
    def _score(
        self, model: TriageModel, rows: Sequence[LabelledTicket], emb: np.ndarray | None
    ) -> dict[str, float]:
        texts = [r.text for r in rows]
        proba, _, _ = model.predict_proba(texts, emb if model.uses_embeddings else None)
        head = model.heads["category"]
        y = label_indices([r.category for r in rows], head.classes)
        return classification_report(proba["category"], y, model.target_precision)

    def _compare_without_holdout(
        self,
        tenant: str,
        current_version: str,
        candidate: TriageModel,
        rows: Sequence[LabelledTicket],
    ) -> tuple[bool, str, dict[str, float], dict[str, float] | None]:
        """(promote, reason, candidate figures, incumbent figures) for a tenant with too few
        labelled tickets for a hold-out (below ~250).

        Only a current model that never saw any of this tenant's tickets (the demo-history
        model every tenant starts on) can be compared fairly on them: the candidate's
        out-of-fold accuracy on its training tickets (the stacker's own cross-fitted predictions,
        each made by a model that did not train on that ticket) against the current model's
        accuracy on the same tickets. A model trained on the tenant's tickets is kept until a
        hold-out is possible (``omega model promote`` can override by hand).
        """
        too_few = f"too few hold-out tickets (< {MIN_HOLDOUT_ROWS}) to compare"
        report = candidate.heads["category"].report
        if self._store.meta(tenant, current_version).get("source") != "demo-history":
            return False, too_few, {}, None
        if report is None or report.n != len(rows):
            return False, too_few, {}, None
        incumbent = self._store.load(tenant, current_version)
        emb = self._embeddings(rows) if incumbent.uses_embeddings else None
        if incumbent.uses_embeddings and emb is None:
            return False, "cannot score the current model without embeddings", {}, None
        inc_score = self._score(incumbent, rows, emb)
        cand_score = {"n": float(report.n), "accuracy": report.accuracy}
        promote = report.accuracy > inc_score["accuracy"]
        reason = (
            f"out-of-fold accuracy on the tenant's {report.n} labelled tickets "
            f"{report.accuracy:.4f} vs the demo-history model's {inc_score['accuracy']:.4f} on "
            f"the same tickets ({too_few}; the demo model never saw them)"
        )
        return promote, reason, cand_score, inc_score

    def train(
        self,
        tenant: str,
        rows: Sequence[LabelledTicket],
        *,
        by: str = "training",
        extra_meta: dict[str, object] | None = None,
    ) -> TrainResult:
        """Train a candidate; promote it only if it beats the current model on the same hold-out.

        ``by`` names who asked (recorded in the promotion log with the reason); ``extra_meta``
        is stored in the candidate's ``meta.json``.

        The hold-out is a stable ~20 % of tickets (by ticket id hash) that no stored model is
        trained on, so every comparison uses tickets both models have never seen. Below
        ``MIN_HOLDOUT_ROWS`` held-out tickets, a candidate can still replace the demo-history
        model on out-of-fold figures (``_compare_without_holdout``).
        """
        check_tenant(tenant)
        start = time.perf_counter()
        rows = [r for r in rows if r.category.strip()]
        hold = [r for r in rows if is_holdout(r)]
        if len(hold) < MIN_HOLDOUT_ROWS:
            hold = []
        hold_ids = {id(r) for r in hold}
        fit_rows = [r for r in rows if id(r) not in hold_ids]
        with self._tenant_lock(tenant):
            current_version = self._store.current_version(tenant, fresh=True)
            candidate = self._fit(tenant, fit_rows)
            candidate.version = self._store.new_version(tenant)
            emb_hold = self._embeddings(hold) if hold else None
            cand_score = self._score(candidate, hold, emb_hold) if hold else {}
            inc_score: dict[str, float] | None = None
            reason = ""
            if current_version is None:
                promote, reason = True, "no current model"
            elif not hold:
                promote, reason, cand_score, inc_score = self._compare_without_holdout(
                    tenant, current_version, candidate, fit_rows
                )
            else:
                incumbent = self._store.load(tenant, current_version)
                if incumbent.uses_embeddings and emb_hold is None:
                    promote, reason = False, "cannot score the current model without embeddings"
                else:
                    inc_score = self._score(incumbent, hold, emb_hold)
                    promote = cand_score["accuracy"] > inc_score["accuracy"]
                    reason = (
                        f"hold-out accuracy {cand_score['accuracy']:.4f} vs current "
                        f"{inc_score['accuracy']:.4f}"
                    )
            self._store.save(
                candidate,
                {
                    **(extra_meta or {}),
                    "holdout": cand_score if hold else {},
                    "incumbent": inc_score,
                    "incumbent_version": current_version,
                    "compared_on": (
                        "hold-out" if hold else ("out-of-fold" if inc_score else None)
                    ),
                    "better_than_incumbent": promote,
                    "reason": reason,
                },
            )
            if promote:
                try:
                    # Compare-and-set: only if ``current`` is still the model we measured
                    # against (another process may have promoted or rolled back meanwhile).
                    self._store.promote(
                        tenant, candidate.version, reason=reason, by=by, expected=current_version
                    )
                except PromotionConflict as exc:
                    promote = False
                    reason = (
                        f"{reason}; not promoted: the current model changed from "
                        f"{current_version or 'none'} to {exc.found or 'none'} while this one "
                        "trained (train again to compare against it)"
                    )
                    current_version = exc.found
                else:
                    self._models[tenant] = candidate
                    current_version = candidate.version
        logger.info("training for tenant done: promoted=%s (%s)", promote, reason)
        return TrainResult(
            tenant=tenant,
            version=candidate.version,
            promoted=promote,
            current_version=current_version,
            candidate=cand_score,
            incumbent=inc_score,
            n_train=len(fit_rows),
            n_holdout=len(hold),
            seconds=time.perf_counter() - start,
            reason=reason,
        )
