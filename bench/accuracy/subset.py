"""One outer fold of the it_tickets subset comparison: sparse-only vs ensemble on identical folds.

Both variants share the base models (the ensemble's stacker sees svm + MiniLM LR + kNN scores, the
sparse one only the svm scores), so one run costs little more than the ensemble alone.
Usage: ``python -m bench.accuracy.subset it|gl FOLD [FOLD ...]``; writes
bench/out/accuracy/<dataset>-fold-<k>.npz (``it``: only tickets whose embedding is cached).
"""

from __future__ import annotations

import sys
import time

import numpy as np
from sklearn.model_selection import StratifiedKFold

from bench.accuracy.__main__ import DATASETS, OUT, SHARED_DATA, cached_rows, embed_all
from titans.local.classifier import ClassifierConfig
from titans.local.embedding import MiniLMEmbedder
from titans.local.history import read_labelled_csv
from titans.local.metrics import label_indices
from titans.local.model import TriageModel


def main(key: str, folds: list[int]) -> None:
    name, text_cols, label_col = DATASETS["it" if key in ("itfull", "itens") else key]
    embedder = MiniLMEmbedder.load()
    rows = read_labelled_csv(SHARED_DATA / name, text_cols, label_col)
    variants: tuple[tuple[str, bool], ...] = (("ensemble", True), ("sparse", False))
    if key in ("it", "itens"):
        rows = cached_rows(rows, embedder.model_id)
    if key == "itens":  # ensemble only (the sparse variant on the same folds is "itfull")
        variants = (("ensemble", True),)
    if key == "itfull":  # every ticket, sparse model only (not every embedding is cached)
        variants = (("sparse", False),)
        emb = None
    else:
        emb, _, _ = embed_all(rows, embedder)
    classes = sorted({r.category for r in rows})
    y = label_indices([r.category for r in rows], classes)
    skf = StratifiedKFold(n_splits=5, shuffle=True, random_state=42)
    splits = list(skf.split(np.zeros(len(rows)), y))
    (OUT / "accuracy").mkdir(parents=True, exist_ok=True)
    for k in folds:
        tr, te = splits[k]
        result: dict[str, np.ndarray] = {"te": te, "y": y[te]}
        for variant, use in variants:
            start, cpu = time.perf_counter(), time.process_time()
            model = TriageModel.train(
                "bench",
                [rows[i] for i in tr],
                embeddings=emb[tr] if use and emb is not None else None,
                config=ClassifierConfig(use_embeddings=use),
            )
            wall, cpu_s = time.perf_counter() - start, time.process_time() - cpu
            proba, _, _ = model.predict_proba(
                [rows[i].text for i in te], emb[te] if use and emb is not None else None
            )
            head = model.heads["category"]
            full = np.zeros((len(te), len(classes)))
            full[:, label_indices(head.classes, classes)] = proba["category"]
            result[f"{variant}_proba"] = full
            result[f"{variant}_threshold"] = np.array(head.threshold)
            result[f"{variant}_fit"] = np.array([wall, cpu_s])
            acc = (full.argmax(axis=1) == y[te]).mean()
            print(
                f"fold {k} {variant}: acc {acc:.4f} fit {wall:.0f}s wall {cpu_s:.0f}s cpu",
                flush=True,
            )
        np.savez(OUT / "accuracy" / f"{key}-fold-{k}.npz", **result)


if __name__ == "__main__":
    main(sys.argv[1], [int(a) for a in sys.argv[2:]])
