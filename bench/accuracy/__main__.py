"""bench/accuracy: the local Titan's accuracy, abstention, cost and size on the shared datasets.

Run: ``python -m bench.accuracy`` (``--datasets it`` or ``gl`` for one; ``--folds 5``).
For each dataset present under ../shared/data (skipped with a message when absent):
- 5-fold stratified cross-validation of the production training path (``TriageModel.train``:
  fixed hyperparameters, inner folds for the stacker and the abstention threshold, so no figure
  is tuned on its own test fold): accuracy, macro-F1, top-3, coverage at 95 % precision, and the
  precision/coverage actually obtained on the test folds with the thresholds training chose;
- the same for the sparse n-gram SVM alone (the ablation baseline, same folds);
- training from scratch on the whole file, split into embedding and fitting, and retraining from
  stored features (cached embeddings); model size on disk; single-ticket inference P50/P95 with
  the embedding computed fresh; RSS of this process (model + embedder loaded).
Embeddings are cached under bench/out/embeddings (MiniLM runs once per text, ever).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import resource
import statistics
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold

from bench.common import REPO, SHARED_DATA, emit, percentile, rss_mb
from titans.local.classifier import ClassifierConfig
from titans.local.embedding import EmbeddingCache, MiniLMEmbedder
from titans.local.history import read_labelled_csv
from titans.local.language import LanguageDetector
from titans.local.metrics import classification_report, label_indices
from titans.local.model import LabelledTicket, TriageModel
from titans.local.store import load_model_dir, save_model_dir

OUT = REPO / "bench" / "out"
DATASETS = {
    "it": ("it_tickets_dev.csv", ["Document"], "Topic_group"),
    "gl": ("gl_assignment_dev.csv", ["Short description", "Description"], "Assignment group"),
}


def embed_all(
    rows: list[LabelledTicket], embedder: MiniLMEmbedder
) -> tuple[np.ndarray, float, int]:
    """Embeddings through the cache; returns (vectors, seconds, how many were computed now)."""
    cache = EmbeddingCache(OUT / "embeddings", embedder.model_id)
    texts = [r.text for r in rows]
    before = cache.misses
    start = time.perf_counter()
    vectors = cache.embed_saving_as_it_goes(embedder, texts)
    return vectors, time.perf_counter() - start, cache.misses - before


def embed_rate(
    rows: list[LabelledTicket], embedder: MiniLMEmbedder, n: int = 256
) -> tuple[float, float]:
    """Fresh (uncached) MiniLM throughput on a sample of this dataset: (texts per wall second,
    texts per CPU second of this process). On a shared machine the CPU rate is the fair one."""
    rng = np.random.default_rng(7)
    sample = [rows[i].text for i in rng.choice(len(rows), size=min(n, len(rows)), replace=False)]
    start, cpu = time.perf_counter(), time.process_time()
    embedder.embed(sample, batch_size=64)
    wall, cpu_s = time.perf_counter() - start, time.process_time() - cpu
    return len(sample) / wall, len(sample) / max(cpu_s, 1e-9)


def cached_rows(rows: list[LabelledTicket], model_id: str) -> list[LabelledTicket]:
    """Only the rows whose embedding is already in the cache (for --cached-only subset runs)."""
    index = OUT / "embeddings" / model_id / "index.tsv"
    keys = {line.split("\t", 1)[0] for line in index.read_text(encoding="utf-8").splitlines()}
    return [r for r in rows if hashlib.sha256(r.text.encode("utf-8")).hexdigest() in keys]


def cross_validate(
    rows: list[LabelledTicket], emb: np.ndarray | None, config: ClassifierConfig, folds: int
) -> dict[str, float]:
    """Pooled out-of-fold figures plus the served-threshold operating point."""
    labels = [r.category for r in rows]
    classes = sorted(set(labels))
    y_all = label_indices(labels, classes)
    oof = np.zeros((len(rows), len(classes)))
    decided = np.zeros(len(rows), dtype=bool)
    fold_acc, fit_s = [], []
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=42)
    for k, (tr, te) in enumerate(skf.split(np.zeros(len(rows)), y_all)):
        start = time.perf_counter()
        model = TriageModel.train(
            "bench",
            [rows[i] for i in tr],
            embeddings=None if emb is None else emb[tr],
            config=config,
        )
        fit_s.append(time.perf_counter() - start)
        proba, _, _ = model.predict_proba(
            [rows[i].text for i in te], None if emb is None else emb[te]
        )
        head = model.heads["category"]
        cols = label_indices(head.classes, classes)
        oof[np.ix_(te, cols)] = proba["category"]
        decided[te] = proba["category"].max(axis=1) >= head.threshold
        fold_acc.append(float((oof[te].argmax(axis=1) == y_all[te]).mean()))
        print(
            f"    fold {k + 1}/{folds}: accuracy {fold_acc[-1]:.4f}  fit {fit_s[-1]:.1f}s",
            flush=True,
        )
    report = classification_report(oof, y_all, 0.95)
    correct = oof.argmax(axis=1) == y_all
    report["served_coverage"] = float(decided.mean())
    report["served_precision"] = float(correct[decided].mean()) if decided.any() else 0.0
    report["fold_accuracy_median"] = statistics.median(fold_acc)
    report["fold_fit_s_median"] = statistics.median(fit_s)
    report.pop("threshold", None)
    return report


def single_ticket_latency(
    model: TriageModel, rows: list[LabelledTicket], embedder: MiniLMEmbedder | None, n: int = 200
) -> dict[str, float]:
    """Per-ticket inference with the embedding computed fresh (as for a new ticket)."""
    detector = LanguageDetector()
    rng = np.random.default_rng(3)
    times = []
    for i in rng.choice(len(rows), size=min(n, len(rows)), replace=False):
        text = rows[int(i)].text
        start = time.perf_counter()
        vec = embedder.embed([text])[0] if model.uses_embeddings and embedder is not None else None
        model.predict_one(text, vec, detector)
        times.append((time.perf_counter() - start) * 1000)
    return {"p50_ms": round(percentile(times, 50), 2), "p95_ms": round(percentile(times, 95), 2)}


def dir_size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def run_dataset(
    key: str, folds: int, embedder: MiniLMEmbedder | None, ablation: bool, cached_only: bool = False
) -> dict[str, object] | None:
    name, text_cols, label_col = DATASETS[key]
    path = SHARED_DATA / name
    if not path.is_file():
        print(f"[{key}] SKIPPED: {path} not found (the shared datasets are not in this checkout)")
        return None
    rows = read_labelled_csv(path, text_cols, label_col)
    print(
        f"[{key}] {name}: {len(rows)} tickets, {len(set(r.category for r in rows))} classes",
        flush=True,
    )
    out: dict[str, object] = {"n": len(rows)}
    emb = None
    if embedder is not None:
        if cached_only:
            rows = cached_rows(rows, embedder.model_id)
            out["n"] = len(rows)
            print(f"  --cached-only: {len(rows)} tickets whose embedding is cached", flush=True)
        emb, emb_s, computed = embed_all(rows, embedder)
        rate, cpu_rate = embed_rate(rows, embedder)
        # Two dedicated cores, one single-threaded embedding process per core.
        scratch = len(rows) / (2 * cpu_rate)
        out["embed_rate_wall_per_s"] = round(rate, 1)
        out["embed_rate_per_cpu_s"] = round(cpu_rate, 1)
        out["embed_from_scratch_s_est"] = round(scratch, 1)
        out["embed_cached_s"] = round(emb_s, 2)
        print(
            f"  embeddings: {computed} computed now, {emb_s:.1f}s from cache; fresh rate "
            f"{rate:.0f}/s wall, {cpu_rate:.0f}/s per CPU-second -> from scratch on 2 cores "
            f"~{scratch:.0f}s",
            flush=True,
        )
    config = ClassifierConfig(use_embeddings=emb is not None)
    kind = "svm + MiniLM LR + kNN -> stacker" if emb is not None else "sparse svm -> stacker"
    print(f"  {kind}, {folds}-fold CV:", flush=True)
    cv = cross_validate(rows, emb, config, folds)
    out["cv"] = cv
    out["uses_embeddings"] = emb is not None
    if ablation and emb is not None:
        print("  ablation: sparse SVM alone (calibrated by the same stacker), CV:", flush=True)
        out["cv_sparse_only"] = cross_validate(
            rows, None, ClassifierConfig(use_embeddings=False), folds
        )
    start = time.perf_counter()
    model = TriageModel.train(key, rows, embeddings=emb, config=config)
    fit_s = time.perf_counter() - start
    model.version = "bench"
    folder = OUT / "models" / key
    save_model_dir(model, folder)
    out["fit_s"] = round(fit_s, 1)
    out["retrain_from_stored_features_s"] = round(fit_s, 1)
    if emb is not None:
        out["train_from_scratch_s_est"] = round(fit_s + float(out["embed_from_scratch_s_est"]), 1)
    out["model_mb"] = round(dir_size_mb(folder), 1)
    served = load_model_dir(folder)
    lat = single_ticket_latency(served, rows, embedder)
    out["inference_p50_ms"], out["inference_p95_ms"] = lat["p50_ms"], lat["p95_ms"]
    return out


def _print_table(results: dict[str, dict[str, object]]) -> None:
    for key, r in results.items():
        cv = r["cv"]
        assert isinstance(cv, dict)
        print(f"\n== {key}: n={r['n']}")
        rows = [("ensemble" if r.get("uses_embeddings") else "sparse svm", cv)]
        if "cv_sparse_only" in r:
            rows.append(("sparse SVM only", r["cv_sparse_only"]))  # type: ignore[arg-type]
        print(
            f"{'model':18s} {'acc':>7s} {'macroF1':>8s} {'top3':>7s} {'cov@95':>7s} {'served cov/prec':>16s}"
        )
        for label, c in rows:
            print(
                f"{label:18s} {c['accuracy']:7.4f} {c['macro_f1']:8.4f} {c['top3_accuracy']:7.4f} "
                f"{c['coverage_at_precision_95']:7.4f} {c['served_coverage']:7.4f}/{c['served_precision']:.4f}"
            )
        if "cv_sparse_only" in r:
            base = r["cv_sparse_only"]
            assert isinstance(base, dict)
            print(f"ratio ensemble/sparse accuracy: {cv['accuracy'] / base['accuracy']:.4f}")
        print(
            f"training: fit {r['fit_s']}s (= retrain from stored features), embed from scratch ~"
            f"{r.get('embed_from_scratch_s_est', 0)}s, total from scratch ~{r.get('train_from_scratch_s_est', r['fit_s'])}s"
        )
        print(
            f"model on disk {r['model_mb']} MB; single ticket P50 {r['inference_p50_ms']} ms, "
            f"P95 {r['inference_p95_ms']} ms (embedding included)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.accuracy")
    parser.add_argument("--datasets", default="it,gl")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--no-embeddings", action="store_true")
    parser.add_argument("--no-ablation", action="store_true")
    parser.add_argument(
        "--cached-only", action="store_true", help="use only tickets whose embedding is cached"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    embedder = None
    if not args.no_embeddings:
        try:
            embedder = MiniLMEmbedder.load()
        except (ImportError, FileNotFoundError) as exc:
            print(f"MiniLM not installed ({exc}); sparse models only")
    results: dict[str, dict[str, object]] = {}
    for key in args.datasets.split(","):
        r = run_dataset(key.strip(), args.folds, embedder, not args.no_ablation, args.cached_only)
        if r is not None:
            results[key.strip()] = r
    _print_table(results)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    import os

    figures: dict[str, object] = {
        "bench": "accuracy",
        "rss_mb": round(rss_mb(os.getpid()), 1),
        "peak_rss_mb": round(peak, 1),
        **results,
    }
    print(
        f"\nRSS now {figures['rss_mb']} MB (models + embedder loaded), peak {figures['peak_rss_mb']} MB"
    )
    emit(figures)


if __name__ == "__main__":
    main()
