"""Readable model report: markdown with confusion matrix, precision-coverage and per-class F1 plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score

from titans.local.metrics import precision_coverage_curve
from titans.local.model import TriageModel


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_report(
    out: Path, model: TriageModel, result: dict[str, float], proba: np.ndarray, y: np.ndarray
) -> Path:
    """Write ``report.md`` and three PNGs into ``out``; returns the markdown path."""
    plt = _plt()
    out.mkdir(parents=True, exist_ok=True)
    classes = model.heads["category"].classes
    pred = proba.argmax(axis=1)
    known = y >= 0
    labels = list(range(len(classes)))

    cm = confusion_matrix(y[known], pred[known], labels=labels)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * len(classes), 0.8 + 0.6 * len(classes)))
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(labels, classes, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(labels, classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(classes) <= 20:
        for i in labels:
            for j in labels:
                if cm[i, j]:
                    ax.text(
                        j,
                        i,
                        str(cm[i, j]),
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="white" if norm[i, j] > 0.5 else "black",
                    )
    ax.set_title("Confusion matrix (row-normalised colour, counts)")
    fig.tight_layout()
    fig.savefig(out / "confusion_matrix.png", dpi=110)
    plt.close(fig)

    conf = proba.max(axis=1)
    coverage, precision, _ = precision_coverage_curve(conf, pred == y)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(coverage, precision)
    ax.axhline(model.target_precision, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("coverage (share decided without review)")
    ax.set_ylabel("precision of decided tickets")
    ax.set_ylim(max(0.0, float(precision.min()) - 0.05), 1.005)
    ax.set_title("Precision vs coverage")
    fig.tight_layout()
    fig.savefig(out / "precision_coverage.png", dpi=110)
    plt.close(fig)

    f1 = f1_score(y[known], pred[known], labels=labels, average=None, zero_division=0)
    support = np.bincount(y[known], minlength=len(classes))
    fig, ax = plt.subplots(figsize=(6, 0.6 + 0.3 * len(classes)))
    ax.barh(classes, f1)
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1")
    ax.invert_yaxis()
    ax.set_title("Per-class F1")
    fig.tight_layout()
    fig.savefig(out / "per_class_f1.png", dpi=110)
    plt.close(fig)

    lines = [
        f"# Triage model report: version {model.version}",
        "",
        f"Tenant `{model.tenant}`, trained on {model.n_train} tickets, languages: "
        f"{', '.join(model.languages) or 'n/a'}, MiniLM features: {model.uses_embeddings}.",
        "",
    ]
    seen = int(result.get("seen_in_training") or 0)
    if seen > 0:
        lines += [
            f"**Warning: the model was trained on {seen} of these {int(result['n'])} tickets.** "
            "The figures below overstate how it does on tickets it has not seen; evaluate on "
            "tickets it was not trained on.",
            "",
        ]
    lines += [
        "| figure | value |",
        "|---|---|",
    ]
    for key, value in result.items():
        shown = f"{value:.4f}" if isinstance(value, float) else ("n/a" if value is None else value)
        lines.append(f"| {key} | {shown} |")
    lines += ["", "| class | F1 | support |", "|---|---|---|"]
    for name, score, n in zip(classes, f1, support, strict=True):
        lines.append(f"| {name} | {score:.3f} | {int(n)} |")
    lines += [
        "",
        "![confusion matrix](confusion_matrix.png)",
        "",
        "![precision vs coverage](precision_coverage.png)",
        "",
        "![per-class F1](per_class_f1.png)",
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
