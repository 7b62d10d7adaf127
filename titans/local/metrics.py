"""Evaluation figures for a probabilistic classifier: accuracy, macro-F1, top-k, coverage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import f1_score


@dataclass(frozen=True)
class CoveragePoint:
    """Largest confidence-sorted prefix holding the target precision."""

    threshold: float
    coverage: float
    precision: float


def precision_coverage_curve(
    confidence: np.ndarray, correct: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision and coverage of each confidence-sorted prefix; returns (coverage, precision, thresholds)."""
    order = np.argsort(-confidence, kind="stable")
    hits = np.cumsum(correct[order].astype(np.float64))
    counts = np.arange(1, len(order) + 1, dtype=np.float64)
    return counts / max(len(order), 1), hits / counts, confidence[order]


def coverage_at_precision(
    confidence: np.ndarray, correct: np.ndarray, target: float, min_count: int = 1
) -> CoveragePoint:
    """The largest share of tickets, taken by descending confidence, whose precision is >= target.

    ``min_count`` ignores prefixes smaller than that (a precision measured on a handful of
    tickets is noise; thresholds for serving use 30).

    The threshold is the lowest confidence inside that share; ties at the threshold are excluded
    so the rule "decide when confidence >= threshold" never admits more than the measured share.
    """
    if len(confidence) == 0:
        return CoveragePoint(1.0, 0.0, 1.0)
    coverage, precision, thresholds = precision_coverage_curve(confidence, correct)
    ok = np.flatnonzero(precision >= target)
    ok = ok[ok + 1 >= min_count]
    if len(ok) == 0:
        return CoveragePoint(float("inf"), 0.0, 1.0)
    k = int(ok[-1])
    # Move back to a boundary between distinct confidence values.
    while k + 1 < len(thresholds) and thresholds[k + 1] == thresholds[k] and k > 0:
        k -= 1
    return CoveragePoint(float(thresholds[k]), float(coverage[k]), float(precision[k]))


def topk_accuracy(proba: np.ndarray, y: np.ndarray, k: int) -> float:
    """Share of rows whose true class index is among the k most probable."""
    k = min(k, proba.shape[1])
    top = np.argpartition(-proba, k - 1, axis=1)[:, :k]
    return float(np.mean(np.any(top == y[:, None], axis=1)))


def classification_report(
    proba: np.ndarray, y: np.ndarray, target_precision: float = 0.95
) -> dict[str, float]:
    """The standard figures for class-probability rows ``proba`` against true indices ``y``.

    Rows whose true class is unknown to the model should carry ``y = -1`` (always wrong).
    """
    pred = proba.argmax(axis=1)
    correct = pred == y
    conf = proba.max(axis=1)
    point = coverage_at_precision(conf, correct, target_precision)
    labels = sorted(set(y.tolist()) | set(pred.tolist()))
    return {
        "n": int(len(y)),
        "accuracy": float(np.mean(correct)) if len(y) else 0.0,
        "macro_f1": float(f1_score(y, pred, labels=labels, average="macro", zero_division=0)),
        "top3_accuracy": topk_accuracy(proba, y, 3),
        f"coverage_at_precision_{round(target_precision * 100)}": point.coverage,
        "threshold": point.threshold,
    }


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 10
) -> float:
    """Weighted mean |accuracy - confidence| over equal-width confidence bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            total += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(total)


def label_indices(labels: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """Map label strings to class indices; unknown labels become -1."""
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup.get(label, -1) for label in labels], dtype=np.int64)
