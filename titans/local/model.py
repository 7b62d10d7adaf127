"""A tenant's trained triage model: shared features, one head per labelled target, metadata."""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from titans.local.classifier import ClassifierConfig, NeighbourIndex, TargetHead, TicketFeaturizer
from titans.local.language import UNDETERMINED, LanguageDetector
from titans.local.textprep import ticket_text

logger = logging.getLogger(__name__)

TARGETS = ("category", "priority", "queue", "technician")
MIN_LABELLED = 20


@dataclass(frozen=True)
class LabelledTicket:
    """A resolved ticket whose final fields (set by the technician) are the training labels.

    Empty strings mean "not labelled". ``embedding`` is the MiniLM vector the pipeline computed
    when the ticket entered it (``None``: compute it during training if an embedder is present).
    """

    title: str
    description: str
    category: str
    priority: str = ""
    queue: str = ""
    technician: str = ""
    ticket_id: str = ""
    embedding: np.ndarray | None = field(default=None, compare=False, repr=False)

    def label(self, target: str) -> str:
        """The label of ``target`` (one of TARGETS)."""
        return str(getattr(self, target)).strip()

    @property
    def text(self) -> str:
        """The normalised model input."""
        return ticket_text(self.title, self.description)


@dataclass
class ModelPrediction:
    """Raw model output for one ticket, before abstention and formatting."""

    proba: dict[str, np.ndarray]
    language: str
    top_words: list[str]
    neighbours: list[tuple[str, str, float]]


def text_digests(texts: Sequence[str]) -> np.ndarray:
    """An 8-byte digest of each (normalised) ticket text, as uint64."""
    return np.array(
        [int.from_bytes(hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest(), "little")
         for t in texts],
        dtype=np.uint64,
    )  # fmt: skip


class TriageModel:
    """Featurizer + heads + the facts needed to use the model safely (tenant, languages, ...)."""

    def __init__(self, tenant: str, config: ClassifierConfig) -> None:
        self.tenant = tenant
        self.config = config
        self.version = ""
        self.featurizer = TicketFeaturizer(config)
        self.index: NeighbourIndex | None = None
        self.heads: dict[str, TargetHead] = {}
        self.languages: list[str] = []
        self.embedding_model_id = ""
        self.target_precision = 0.95
        self.n_train = 0
        self.train_seconds = 0.0
        self.created_at = time.time()
        # Digests of the training texts (sorted, unique): lets an evaluation say how many of its
        # tickets the model was trained on. None for models saved before this existed.
        self.train_digests: np.ndarray | None = None

    def seen_in_training(self, texts: Sequence[str]) -> int | None:
        """How many of ``texts`` (normalised ticket texts) this model was trained on; None when
        the model does not know (saved before it recorded its training texts)."""
        known = getattr(self, "train_digests", None)
        if known is None:
            return None
        return int(np.isin(text_digests(texts), known).sum())

    @property
    def uses_embeddings(self) -> bool:
        """Whether inference needs the ticket's MiniLM embedding."""
        return self.index is not None

    @classmethod
    def train(
        cls,
        tenant: str,
        rows: Sequence[LabelledTicket],
        *,
        embeddings: np.ndarray | None,
        embedding_model_id: str = "",
        config: ClassifierConfig | None = None,
        target_precision: float = 0.95,
        detector: LanguageDetector | None = None,
    ) -> TriageModel:
        """Train every target that has enough labels; ``category`` is required.

        BLAS is limited to one thread while training: the stacker's many small L-BFGS problems
        run many times slower with a multi-threaded BLAS on a busy machine.
        """
        with threadpool_limits(limits=1):
            return cls._train(
                tenant,
                rows,
                embeddings=embeddings,
                embedding_model_id=embedding_model_id,
                config=config,
                target_precision=target_precision,
                detector=detector,
            )

    @classmethod
    def _train(
        cls,
        tenant: str,
        rows: Sequence[LabelledTicket],
        *,
        embeddings: np.ndarray | None,
        embedding_model_id: str,
        config: ClassifierConfig | None,
        target_precision: float,
        detector: LanguageDetector | None,
    ) -> TriageModel:
        config = config or ClassifierConfig()
        if embeddings is None and config.use_embeddings:
            config = ClassifierConfig(**{**config.__dict__, "use_embeddings": False})
        start = time.perf_counter()
        model = cls(tenant, config)
        model.target_precision = target_precision
        model.n_train = len(rows)
        texts = [r.text for r in rows]
        model.train_digests = np.unique(text_digests(texts))
        x = model.featurizer.fit_transform(texts)
        if embeddings is not None and config.use_embeddings:
            model.index = NeighbourIndex(
                vectors=np.asarray(embeddings, dtype=np.float16),
                ticket_ids=[r.ticket_id for r in rows],
            )
            model.embedding_model_id = embedding_model_id
        detector = detector or LanguageDetector()
        langs = Counter(detector.detect(t).code for t in texts)
        langs.pop(UNDETERMINED, None)
        floor = max(3, int(0.01 * len(rows)))
        model.languages = sorted(code for code, n in langs.items() if n >= floor)
        for target in TARGETS:
            idx = np.array([i for i, r in enumerate(rows) if r.label(target)], dtype=np.int64)
            labels = [rows[i].label(target) for i in idx]
            if len(idx) < MIN_LABELLED or len(set(labels)) < 2:
                if target == "category":
                    raise ValueError("need at least 20 tickets with 2+ categories to train")
                continue
            model.heads[target] = TargetHead(target, config).fit(
                x, labels, idx, model.index, len(rows), target_precision
            )
        model.train_seconds = time.perf_counter() - start
        return model

    def features(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Sparse features of normalised texts."""
        return self.featurizer.transform(texts)

    def predict_proba(
        self, texts: Sequence[str], embeddings: np.ndarray | None
    ) -> tuple[dict[str, np.ndarray], sp.csr_matrix, tuple[np.ndarray, np.ndarray] | None]:
        """Probabilities for every head; also returns the features and neighbours it used."""
        x = self.features(texts)
        neigh = None
        emb = None
        if self.index is not None:
            if embeddings is None:
                raise ValueError("this model needs ticket embeddings")
            emb = np.asarray(embeddings, dtype=np.float32).reshape(len(texts), -1)
            neigh = self.index.search(emb, self.config.knn_k)
        return {t: h.predict_proba(x, emb, neigh) for t, h in self.heads.items()}, x, neigh

    def predict_one(
        self, text: str, embedding: np.ndarray | None, detector: LanguageDetector
    ) -> ModelPrediction:
        """Probabilities plus explanation material for one normalised ticket text."""
        emb = None if embedding is None else np.asarray(embedding, dtype=np.float32).reshape(1, -1)
        proba, x, neigh = self.predict_proba([text], emb)
        head = self.heads["category"]
        best = int(np.argmax(proba["category"][0]))
        words = head.top_words(
            x[0], best, self.featurizer.n_word_features, self.featurizer.word_names()
        )
        neighbours: list[tuple[str, str, float]] = []
        if neigh is not None and self.index is not None:
            for j, s in zip(neigh[0][0][:3], neigh[1][0][:3], strict=False):
                lab = head.train_labels[j]
                neighbours.append(
                    (self.index.ticket_ids[j], head.classes[lab] if lab >= 0 else "", float(s))
                )
        return ModelPrediction(
            proba={t: p[0] for t, p in proba.items()},
            language=detector.detect(text).code,
            top_words=words,
            neighbours=neighbours,
        )

    def summary(self) -> dict[str, object]:
        """JSON-friendly metadata: targets with their out-of-fold figures."""
        heads = {}
        for name, head in self.heads.items():
            rep = head.report
            heads[name] = {
                "classes": len(head.classes),
                "n": rep.n if rep else 0,
                "oof_accuracy": rep.accuracy if rep else None,
                "oof_coverage": rep.coverage if rep else None,
                "threshold": head.threshold,
            }
        return {
            "tenant": self.tenant,
            "version": self.version,
            "n_train": self.n_train,
            "languages": self.languages,
            "uses_embeddings": self.uses_embeddings,
            "embedding_model_id": self.embedding_model_id,
            "target_precision": self.target_precision,
            "train_seconds": round(self.train_seconds, 3),
            "heads": heads,
        }
