"""The learned triage classifier: sparse n-gram SVM, MiniLM logistic regression and kNN votes,
combined by a logistic-regression stacker trained on out-of-fold scores (so its probabilities
are calibrated on tickets the base models did not see).

One ``TicketFeaturizer`` (TF-IDF word + character n-grams, and optionally the MiniLM embedding
index) is shared by all targets of a tenant; each target (category, priority, queue, technician)
is one ``TargetHead``.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, softmax
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from titans.local.textprep import title_of

logger = logging.getLogger(__name__)

_LOG_FLOOR = np.log(1e-6)
MIN_DECIDED = 30  # a threshold needs at least this many held-out tickets above it


@dataclass(frozen=True)
class ClassifierConfig:
    """Hyperparameters, fixed in advance (chosen on a separate split; see docs/triage-model.md)."""

    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    # A third block: word n-grams of the title alone (the PSA's short description), so the
    # linear models can weigh title words apart from the body (docs/triage-model.md, session 7).
    title_features: bool = True
    min_df_large: int = 2
    large_corpus: int = 2000
    svm_c: float = 0.3
    use_embeddings: bool = True
    emb_lr_c: float = 10.0
    knn_k: int = 20
    knn_temperature: float = 0.05
    stack_c: float = 1.0
    shared_stacker_from: int = 20  # classes; from here on the stacker shares weights across classes
    inner_folds: int = 5
    inner_folds_large: int = 3  # from ``large_inner`` training tickets on, 3 folds are plenty
    large_inner: int = 10000
    seed: int = 0


class NeighbourIndex:
    """Embeddings of the training tickets for kNN votes: float16 on disk (half the size), a
    float32 copy in memory built on first use (a per-query conversion would cost ~20 ms)."""

    def __init__(self, vectors: np.ndarray, ticket_ids: list[str]) -> None:
        self.vectors = np.asarray(vectors, dtype=np.float16)
        self.ticket_ids = ticket_ids
        self._f32: np.ndarray | None = None

    def __getstate__(self) -> dict[str, object]:
        return {"vectors": self.vectors, "ticket_ids": self.ticket_ids}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.vectors = state["vectors"]  # type: ignore[assignment]
        self.ticket_ids = state["ticket_ids"]  # type: ignore[assignment]
        self._f32 = None

    def matrix(self) -> np.ndarray:
        """The vectors as float32 (cached)."""
        if self._f32 is None:
            self._f32 = self.vectors.astype(np.float32)
        return self._f32

    def search(
        self, queries: np.ndarray, k: int, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (indices into the index, cosine similarities) for each query; ``rows`` restricts."""
        base = self.matrix() if rows is None else self.matrix()[rows]
        k = min(k, base.shape[0])
        idx_out = np.zeros((queries.shape[0], k), dtype=np.int64)
        sim_out = np.zeros((queries.shape[0], k), dtype=np.float32)
        for begin in range(0, queries.shape[0], 2048):
            q = np.asarray(queries[begin : begin + 2048], dtype=np.float32)
            sims = q @ base.T
            part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            part_sims = np.take_along_axis(sims, part, axis=1)
            order = np.argsort(-part_sims, axis=1)
            idx_out[begin : begin + len(q)] = np.take_along_axis(part, order, axis=1)
            sim_out[begin : begin + len(q)] = np.take_along_axis(part_sims, order, axis=1)
        if rows is not None:
            idx_out = rows[idx_out]
        return idx_out, sim_out


class TicketFeaturizer:
    """TF-IDF word (1-2) + char_wb (2-5) n-grams of the whole text, and word n-grams of the title
    when tickets have one (``textprep.title_of``); keeps the word vocabulary for explanations.
    Column blocks: word, char, then title (absent when the training texts had no titles)."""

    def __init__(self, config: ClassifierConfig) -> None:
        self.config = config
        self.word: TfidfVectorizer | None = None
        self.char: TfidfVectorizer | None = None
        self.title: TfidfVectorizer | None = None
        self._word_names: np.ndarray | None = None
        self._fast: list[tuple[Any, dict[str, int], np.ndarray]] | None = None

    def _min_df(self, n_texts: int) -> int:
        """An n-gram must occur in 2 texts from ``large_corpus`` texts on (in 1 below)."""
        return self.config.min_df_large if n_texts >= self.config.large_corpus else 1

    def _new_vectorizers(self, n_texts: int) -> tuple[TfidfVectorizer, TfidfVectorizer]:
        """Fresh, unfitted word and char vectorizers (min_df 2 from ``large_corpus`` texts on);
        the title vectorizer is made by ``_fit_title``."""
        min_df = self._min_df(n_texts)
        self.word = TfidfVectorizer(
            ngram_range=self.config.word_ngrams, sublinear_tf=True, min_df=min_df, dtype=np.float32
        )
        self.char = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=self.config.char_ngrams,
            sublinear_tf=True,
            min_df=min_df,
            dtype=np.float32,
        )
        self.title, self._word_names, self._fast = None, None, None
        return self.word, self.char

    def _fit_title(self, texts: Sequence[str]) -> sp.csr_matrix | None:
        """Fit the title block when enabled and the texts have titles; its matrix, or None."""
        self.title = None
        titles = [title_of(t) for t in texts]
        if not getattr(self.config, "title_features", False) or not any(titles):
            return None
        vec = TfidfVectorizer(
            ngram_range=self.config.word_ngrams,
            sublinear_tf=True,
            min_df=self._min_df(len(texts)),
            dtype=np.float32,
        )
        try:
            x = vec.fit_transform(titles)
        except ValueError:  # no title n-gram survives min_df: nothing to add
            return None
        self.title = vec
        return x

    def fit(self, texts: Sequence[str]) -> TicketFeaturizer:
        """Learn the vocabularies and IDF weights (label-free)."""
        for vec in self._new_vectorizers(len(texts)):
            vec.fit(texts)
        self._fit_title(texts)
        return self

    def fit_transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """``fit(texts).transform(texts)`` with one n-gram analysis of the texts instead of two
        (the character n-grams are most of a fit's featurisation time)."""
        word, char = self._new_vectorizers(len(texts))
        blocks = [word.fit_transform(texts), char.fit_transform(texts)]
        title = self._fit_title(texts)
        if title is not None:
            blocks.append(title)
        return sp.hstack(blocks, format="csr")

    @property
    def n_word_features(self) -> int:
        assert self.word is not None
        return len(self.word.vocabulary_)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Sparse features: the word block first, then the char block, then the title block."""
        assert self.word is not None and self.char is not None
        if len(texts) <= _FAST_TRANSFORM_MAX:
            return self._transform_few(texts)
        blocks = [self.word.transform(texts), self.char.transform(texts)]
        if self.title is not None:
            blocks.append(self.title.transform([title_of(t) for t in texts]))
        return sp.hstack(blocks, format="csr")

    def _blocks(self) -> list[TfidfVectorizer]:
        assert self.word is not None and self.char is not None
        return [self.word, self.char] + ([self.title] if self.title is not None else [])

    def _transform_few(self, texts: Sequence[str]) -> sp.csr_matrix:
        """What ``transform`` computes (sublinear tf x idf, L2-normalised per block), for a few
        texts: sklearn's per-call validation and sparse-matrix plumbing were most of a single
        ticket's featurisation time. Same float32 arithmetic (tests compare the two)."""
        blocks = self._blocks()
        if self._fast is None:
            self._fast = [
                (vec.build_analyzer(), vec.vocabulary_, np.asarray(vec.idf_, dtype=np.float32))
                for vec in blocks
            ]
        offsets = np.cumsum([0] + [len(vec.vocabulary_) for vec in blocks]).tolist()
        indptr, indices, data = [0], [], []
        for text in texts:
            inputs = (text, text, title_of(text))
            row_nnz = 0
            for b, (analyze, vocabulary, idf) in enumerate(self._fast):
                counts: dict[int, int] = {}
                for gram in analyze(inputs[b]):
                    j = vocabulary.get(gram)
                    if j is not None:
                        counts[j] = counts.get(j, 0) + 1
                cols = np.fromiter(sorted(counts), dtype=np.int64, count=len(counts))
                values = np.fromiter((counts[j] for j in cols.tolist()), dtype=np.float32, count=len(cols))
                np.log(values, out=values)
                values += np.float32(1.0)
                values *= idf[cols]
                norm = np.sqrt(np.dot(values, values))
                if norm > 0:
                    values /= norm
                indices.append(cols + offsets[b])
                data.append(values)
                row_nnz += len(cols)
            indptr.append(indptr[-1] + row_nnz)
        width = offsets[-1]
        return sp.csr_matrix(
            (
                np.concatenate(data) if data else np.zeros(0, dtype=np.float32),
                np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64),
                np.asarray(indptr, dtype=np.int64),
            ),
            shape=(len(texts), width),
        )

    def word_names(self) -> np.ndarray:
        """Word n-gram strings by column index (built once, on first use)."""
        if self._word_names is None:
            assert self.word is not None
            self._word_names = self.word.get_feature_names_out()
        return self._word_names

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("_fast", None)  # models saved before the fast path existed
        self.__dict__.setdefault("title", None)  # ... and before the title block

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["_word_names"] = None
        state["_fast"] = None
        for name in ("word", "char", "title"):
            vec = state.get(name)
            if vec is not None and hasattr(vec, "stop_words_"):
                vec.stop_words_ = None  # large and only informative; not needed to transform
        return state


def linear_decision(model: LinearSVC | LogisticRegression, x: sp.spmatrix | np.ndarray) -> np.ndarray:
    """``model.decision_function(x)``, the same arithmetic without sklearn's per-call input
    validation, which costs ~0.1 ms a call and was most of a single ticket's model time."""
    scores = np.asarray(x @ model.coef_.T) + model.intercept_
    return scores.ravel() if scores.shape[1] == 1 else scores


def lr_proba(model: LogisticRegression, x: np.ndarray) -> np.ndarray:
    """``model.predict_proba(x)`` for a fitted LogisticRegression (sigmoid for two classes,
    softmax otherwise, as sklearn does), without the per-call validation."""
    decision = linear_decision(model, x)
    if decision.ndim == 1:
        positive = expit(decision)
        return np.column_stack([1.0 - positive, positive])
    return softmax(decision, axis=1)


# Up to this many texts, TicketFeaturizer.transform skips sklearn's batch machinery.
_FAST_TRANSFORM_MAX = 16


def _svm_scores(
    model: LinearSVC, x: sp.csr_matrix, n_classes: int, present: np.ndarray
) -> np.ndarray:
    """Decision scores in full-class columns; classes absent from training get a low score."""
    raw = linear_decision(model, x)
    if raw.ndim == 1:
        raw = np.stack([-raw, raw], axis=1)
    out = np.full((x.shape[0], n_classes), -2.0, dtype=np.float32)
    out[:, present] = raw
    return out


def _lr_logprob(
    model: LogisticRegression, e: np.ndarray, n_classes: int, present: np.ndarray
) -> np.ndarray:
    out = np.full((e.shape[0], n_classes), _LOG_FLOOR, dtype=np.float32)
    out[:, present] = np.maximum(np.log(np.clip(lr_proba(model, e), 1e-12, None)), _LOG_FLOOR)
    return out


def knn_votes(
    neigh_idx: np.ndarray,
    neigh_sim: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    temperature: float,
) -> np.ndarray:
    """Softmax-weighted class votes of the neighbours (unlabelled neighbours, label -1, skipped)."""
    weights = np.exp((neigh_sim - neigh_sim[:, :1]) / temperature)
    neigh_labels = labels[neigh_idx]
    weights = np.where(neigh_labels >= 0, weights, 0.0)
    votes = np.zeros((neigh_idx.shape[0], n_classes), dtype=np.float32)
    rows = np.repeat(np.arange(neigh_idx.shape[0]), neigh_idx.shape[1])
    np.add.at(votes, (rows, np.clip(neigh_labels, 0, None).ravel()), weights.ravel())
    total = votes.sum(axis=1, keepdims=True)
    return np.where(total > 0, votes / np.maximum(total, 1e-12), 1.0 / n_classes)


class SharedWeightStacker:
    """Softmax over classes of ``sum_m w_m * score_m(class) + b_class``: one weight per base model
    shared by all classes, plus a class bias. For many classes (routing to dozens of groups, some
    with a handful of tickets) this is far cheaper and steadier than a full multinomial stacker."""

    def __init__(self, n_classes: int, n_models: int, l2: float = 1e-3) -> None:
        self.n_classes = n_classes
        self.n_models = n_models
        self.l2 = l2
        self.classes_ = np.arange(n_classes)
        self.coef_ = np.zeros(n_models)
        self.bias_ = np.zeros(n_classes)

    def _scores(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(x.shape[0], self.n_models, self.n_classes).transpose(0, 2, 1)

    def fit(self, x: np.ndarray, y: np.ndarray) -> SharedWeightStacker:
        from scipy.optimize import minimize

        f = self._scores(np.asarray(x, dtype=np.float64))
        n = f.shape[0]
        onehot = np.zeros((n, self.n_classes))
        onehot[np.arange(n), y] = 1.0

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            w, b = theta[: self.n_models], theta[self.n_models :]
            z = f @ w + b
            z -= z.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            p = np.exp(logp)
            value = -float((logp * onehot).sum()) / n + 0.5 * self.l2 * float(theta @ theta)
            dz = (p - onehot) / n
            grad = np.concatenate([np.einsum("icm,ic->m", f, dz), dz.sum(axis=0)]) + self.l2 * theta
            return value, grad

        theta0 = np.concatenate([np.ones(self.n_models), np.zeros(self.n_classes)])
        res = minimize(loss, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 500})
        self.coef_, self.bias_ = res.x[: self.n_models], res.x[self.n_models :]
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        z = self._scores(np.asarray(x, dtype=np.float64)) @ self.coef_ + self.bias_
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)


@dataclass
class HeadReport:
    """Out-of-fold figures of a head and its abstention threshold."""

    n: int
    accuracy: float
    coverage: float
    threshold: float
    fit_seconds: float
    oof_confidence: np.ndarray = field(repr=False)
    oof_correct: np.ndarray = field(repr=False)


class TargetHead:
    """One predicted field (category, priority, ...): base models + stacker + threshold."""

    def __init__(self, name: str, config: ClassifierConfig) -> None:
        self.name = name
        self.config = config
        self.classes: list[str] = []
        self.train_labels: np.ndarray = np.zeros(0, dtype=np.int64)
        self.svm: LinearSVC | None = None
        self.emb_lr: LogisticRegression | None = None
        self.stacker: LogisticRegression | SharedWeightStacker | None = None
        self.threshold: float = 1.0
        self.uses_embeddings = False
        self.report: HeadReport | None = None
        self._present: np.ndarray = np.zeros(0, dtype=np.int64)

    # -- features -----------------------------------------------------------------------------
    def _base_features(
        self,
        x: sp.csr_matrix,
        emb: np.ndarray | None,
        votes: np.ndarray | None,
        svm: LinearSVC,
        emb_lr: LogisticRegression | None,
        present: np.ndarray,
    ) -> np.ndarray:
        n_classes = len(self.classes)
        parts = [_svm_scores(svm, x, n_classes, present)]
        if self.uses_embeddings:
            assert emb is not None and emb_lr is not None and votes is not None
            parts.append(_lr_logprob(emb_lr, emb, n_classes, present) / 5.0)
            parts.append(votes)
        return np.hstack(parts)

    def _fit_bases(
        self, x: sp.csr_matrix, emb: np.ndarray | None, y: np.ndarray
    ) -> tuple[LinearSVC, LogisticRegression | None, np.ndarray]:
        present = np.unique(y)
        svm = LinearSVC(C=self.config.svm_c).fit(x, y)
        emb_lr = None
        if self.uses_embeddings and emb is not None:
            emb_lr = LogisticRegression(C=self.config.emb_lr_c, max_iter=200).fit(emb, y)
        return svm, emb_lr, present

    # -- training -----------------------------------------------------------------------------
    def _new_stacker(self, n_features: int) -> LogisticRegression | SharedWeightStacker:
        n_classes = len(self.classes)
        if n_classes >= self.config.shared_stacker_from:
            return SharedWeightStacker(n_classes, n_features // n_classes)
        return LogisticRegression(C=self.config.stack_c, max_iter=1000)

    def fit(
        self,
        x: sp.csr_matrix,
        labels: Sequence[str],
        rows: np.ndarray,
        index: NeighbourIndex | None,
        n_total: int,
        target_precision: float,
    ) -> TargetHead:
        """Fit on training rows ``rows`` (indices into ``x``/index) with their ``labels``."""
        from titans.local.metrics import coverage_at_precision

        start = time.perf_counter()
        self.classes = sorted(set(labels))
        lookup = {c: i for i, c in enumerate(self.classes)}
        y = np.array([lookup[label] for label in labels], dtype=np.int64)
        self.train_labels = np.full(n_total, -1, dtype=np.int64)
        self.train_labels[rows] = y
        self.uses_embeddings = index is not None and self.config.use_embeddings
        xs = x[rows]
        emb = index.vectors[rows].astype(np.float32) if self.uses_embeddings and index else None

        counts = np.bincount(y)
        wanted = (
            self.config.inner_folds
            if len(y) < self.config.large_inner
            else self.config.inner_folds_large
        )
        folds = int(min(wanted, max(2, np.sort(counts)[-1])))
        skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.config.seed)
        feats: np.ndarray | None = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            warnings.simplefilter("ignore", category=ConvergenceWarning)
            splits = list(skf.split(np.zeros(len(y)), y))
            for tr, va in splits:
                svm, emb_lr, present = self._fit_bases(
                    xs[tr], emb[tr] if emb is not None else None, y[tr]
                )
                votes = None
                if self.uses_embeddings and index is not None and emb is not None:
                    nidx, nsim = index.search(emb[va], self.config.knn_k, rows=rows[tr])
                    votes = knn_votes(
                        nidx,
                        nsim,
                        self.train_labels,
                        len(self.classes),
                        self.config.knn_temperature,
                    )
                f = self._base_features(
                    xs[va], emb[va] if emb is not None else None, votes, svm, emb_lr, present
                )
                if feats is None:
                    feats = np.zeros((len(y), f.shape[1]), dtype=np.float32)
                feats[va] = f
            assert feats is not None
            # Stacker out-of-fold probabilities give the threshold and the reported figures.
            oof = np.zeros((len(y), len(self.classes)), dtype=np.float64)
            for tr, va in splits:
                st = self._new_stacker(feats.shape[1]).fit(feats[tr], y[tr])
                oof[np.ix_(va, st.classes_)] = st.predict_proba(feats[va])
            self.stacker = self._new_stacker(feats.shape[1]).fit(feats, y)
            self.svm, self.emb_lr, self._present = self._fit_bases(xs, emb, y)
        conf = oof.max(axis=1)
        correct = oof.argmax(axis=1) == y
        point = coverage_at_precision(conf, correct, target_precision, min_count=MIN_DECIDED)
        self.threshold = point.threshold
        self.report = HeadReport(
            n=len(y),
            accuracy=float(correct.mean()),
            coverage=point.coverage,
            threshold=point.threshold,
            fit_seconds=time.perf_counter() - start,
            oof_confidence=conf.astype(np.float32),
            oof_correct=correct,
        )
        logger.info(
            "head %s: n=%s oof_accuracy=%.4f coverage=%.4f threshold=%.4f",
            self.name,
            len(y),
            self.report.accuracy,
            point.coverage,
            point.threshold,
        )
        return self

    # -- inference ----------------------------------------------------------------------------
    def predict_proba(
        self,
        x: sp.csr_matrix,
        emb: np.ndarray | None,
        neigh: tuple[np.ndarray, np.ndarray] | None,
    ) -> np.ndarray:
        """Calibrated class probabilities, columns in ``self.classes`` order."""
        assert self.svm is not None and self.stacker is not None
        votes = None
        if self.uses_embeddings:
            if emb is None or neigh is None:
                raise ValueError(f"head {self.name} needs the ticket embedding")
            votes = knn_votes(
                neigh[0],
                neigh[1],
                self.train_labels,
                len(self.classes),
                self.config.knn_temperature,
            )
        feats = self._base_features(x, emb, votes, self.svm, self.emb_lr, self._present)
        out = np.zeros((x.shape[0], len(self.classes)), dtype=np.float64)
        stacker = self.stacker
        proba = lr_proba(stacker, feats) if isinstance(stacker, LogisticRegression) else (
            stacker.predict_proba(feats)
        )
        out[:, stacker.classes_] = proba
        return out

    def top_words(
        self, x_row: sp.csr_matrix, class_index: int, n_word: int, names: np.ndarray, k: int = 5
    ) -> list[str]:
        """Word n-grams with the largest positive coefficient x tf-idf for ``class_index``."""
        assert self.svm is not None
        col = int(np.searchsorted(self._present, class_index))
        if col >= len(self._present) or self._present[col] != class_index:
            return []
        coef = self.svm.coef_
        weights = coef[0] * (1 if col == 1 else -1) if coef.shape[0] == 1 else coef[col]
        row = x_row.tocsr()
        row.sum_duplicates()  # one entry per column, so data lines up with indices
        in_word = row.indices < n_word
        cols = row.indices[in_word]
        if len(cols) == 0:
            return []
        # The row's stored values directly: fancy column indexing (row[0, cols]) cost ~1.5 ms
        # a ticket, a sixth of the model's single-ticket time.
        contrib = weights[cols] * row.data[in_word]
        order = np.argsort(-contrib)[:k]
        return [str(names[cols[i]]) for i in order if contrib[i] > 0]
