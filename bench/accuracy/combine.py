"""Pool the per-fold files written by ``bench.accuracy.subset`` into one report (last line JSON).

Usage: ``python -m bench.accuracy.combine it|gl [prefix]``.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from bench.accuracy.__main__ import OUT
from titans.local.metrics import classification_report


def pooled(key: str, prefix: str) -> dict[str, object]:
    files = sorted((OUT / "accuracy").glob(f"{prefix}-*.npz"))
    if not files:
        raise SystemExit(f"no fold files {prefix}-*.npz under {OUT / 'accuracy'}")
    out: dict[str, object] = {"dataset": key, "folds": len(files)}
    for variant in ("ensemble", "sparse"):
        if f"{variant}_proba" not in np.load(files[0]):
            continue
        ys, probas, decided, fit = [], [], [], []
        for f in files:
            d = np.load(f)
            ys.append(d["y"])
            probas.append(d[f"{variant}_proba"])
            decided.append(d[f"{variant}_proba"].max(axis=1) >= float(d[f"{variant}_threshold"]))
            fit.append(d[f"{variant}_fit"])
        y, proba, dec = np.concatenate(ys), np.vstack(probas), np.concatenate(decided)
        rep: dict[str, float] = classification_report(proba, y, 0.95)
        rep.pop("threshold", None)
        correct = proba.argmax(axis=1) == y
        rep["served_coverage"] = float(dec.mean())
        rep["served_precision"] = float(correct[dec].mean()) if dec.any() else 0.0
        rep["fold_accuracy"] = [
            float((np.load(f)[f"{variant}_proba"].argmax(axis=1) == np.load(f)["y"]).mean())
            for f in files
        ]  # type: ignore[assignment]
        rep["fit_wall_s_median"] = float(np.median([x[0] for x in fit]))
        rep["fit_cpu_s_median"] = float(np.median([x[1] for x in fit]))
        out[variant] = rep
        print(
            f"{key} {variant:8s} n={rep['n']} acc {rep['accuracy']:.4f} macroF1 {rep['macro_f1']:.4f} "
            f"top3 {rep['top3_accuracy']:.4f} cov@95 {rep['coverage_at_precision_95']:.4f} "
            f"served {rep['served_coverage']:.4f}/{rep['served_precision']:.4f} "
            f"fit {rep['fit_wall_s_median']:.0f}s wall {rep['fit_cpu_s_median']:.0f}s cpu"
        )
    ens, sp = out.get("ensemble"), out.get("sparse")
    if isinstance(ens, dict) and isinstance(sp, dict):
        print(f"ratio ensemble/sparse accuracy {ens['accuracy'] / sp['accuracy']:.4f}")
    return out


if __name__ == "__main__":
    key = sys.argv[1]
    prefix = sys.argv[2] if len(sys.argv) > 2 else f"{key}-fold"
    print(json.dumps(pooled(key, prefix)))
