"""Cost of the full-size it_tickets ensemble: fit time (wall and CPU), size on disk, single-ticket
latency with the MiniLM embedding computed fresh, RSS. Tickets whose embedding is not cached get
a random unit vector: right for cost (same shapes, same work), meaningless for accuracy.
Usage: ``python -m bench.accuracy.cost``; last line JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import time

import numpy as np

from bench.accuracy.__main__ import (
    DATASETS,
    OUT,
    SHARED_DATA,
    dir_size_mb,
    embed_all,
    single_ticket_latency,
)
from bench.common import rss_mb
from titans.local.classifier import ClassifierConfig
from titans.local.embedding import MiniLMEmbedder
from titans.local.history import read_labelled_csv
from titans.local.model import TriageModel
from titans.local.store import load_model_dir, save_model_dir


def main() -> None:
    name, text_cols, label_col = DATASETS["it"]
    embedder = MiniLMEmbedder.load()
    rows = read_labelled_csv(SHARED_DATA / name, text_cols, label_col)
    index = OUT / "embeddings" / embedder.model_id / "index.tsv"
    keys = {line.split("\t", 1)[0] for line in index.read_text(encoding="utf-8").splitlines()}
    have = [i for i, r in enumerate(rows) if hashlib.sha256(r.text.encode()).hexdigest() in keys]
    emb = np.random.default_rng(0).normal(size=(len(rows), embedder.dim)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    emb[have], _, _ = embed_all([rows[i] for i in have], embedder)
    out: dict[str, object] = {"n": len(rows), "real_embeddings": len(have)}
    for variant, use in (("ensemble", True), ("sparse", False)):
        start, cpu = time.perf_counter(), time.process_time()
        model = TriageModel.train(
            "bench",
            rows,
            embeddings=emb if use else None,
            config=ClassifierConfig(use_embeddings=use),
        )
        wall, cpu_s = time.perf_counter() - start, time.process_time() - cpu
        model.version = f"cost-{variant}"
        folder = OUT / "models" / f"it-{variant}"
        save_model_dir(model, folder)
        served = load_model_dir(folder)
        lat = single_ticket_latency(served, rows, embedder)
        out[variant] = {
            "fit_wall_s": round(wall, 1),
            "fit_cpu_s": round(cpu_s, 1),
            "model_mb": round(dir_size_mb(folder), 1),
            **lat,
        }
        print(variant, out[variant], flush=True)
    out["rss_mb"] = round(rss_mb(os.getpid()), 1)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
