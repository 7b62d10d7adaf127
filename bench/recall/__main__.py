"""bench/recall: the Context Server's Recall at 100k memories in one tenant, over gRPC.

One command: ``python -m bench.recall``. Memories are resolved IT tickets from
``../shared/data/it_tickets_dev.csv`` (a generated ticket-like corpus when that folder is absent),
embedded once with the local MiniLM through an EmbeddingCache under ``bench/out/recall/``.
Embedding is the expensive part (about 10-100 texts/s on this 2-core machine), so ``--unique``
real embeddings are computed and the rest of the ``--size`` memories are *variants*: the text of
a real ticket with a site/asset suffix and its vector perturbed (cosine ~0.92 to the original).
The JSON line says how many of each were used. Queries are held-out tickets (never stored), sent
as text, so every Recall includes embedding the query on the server.

Prints: index build time and memory, Recall latency P50/P95/P99 at 1 in flight, throughput at 10
in flight beside the model's own single-text latency and batched throughput in the same run, and
recall@10 of the IVF index against exact search over the same vectors. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import json
import logging
import random
import shutil
import statistics
import time
from pathlib import Path

import grpc
import numpy as np
from omega.context.v1 import context_pb2 as pb
from omega.context.v1 import context_pb2_grpc as pb_grpc

from bench.common import REPO, SHARED_DATA, percentile
from context.audit import AuditLog
from context.embedded_index import EmbeddedIndex
from context.embedding import MicroBatcher
from context.keywords import tokenize
from context.models import MemoryKind, MemoryRecord, RecallQuery
from context.server import ContextDeps, create_server
from context.service import ContextService
from context.sessions import InMemorySessionStore
from context.settings import ContextSettings

OUT = REPO / "bench" / "out" / "recall"
TENANT = "bench"
log = logging.getLogger("bench.recall")


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _ms(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
    }


def load_corpus(n_queries: int) -> tuple[list[tuple[str, str]], list[str], str]:
    """(text, category) memories and held-out query texts; real tickets when present."""
    path = SHARED_DATA / "it_tickets_dev.csv"
    if path.exists():
        from titans.local.textprep import normalise_text

        with path.open(encoding="utf-8") as fh:
            rows = [(normalise_text(r["Document"]), r["Topic_group"]) for r in csv.DictReader(fh)]
        rows = [r for r in dict.fromkeys(rows) if r[0]]
        random.Random(7).shuffle(rows)
        return rows[n_queries:], [t for t, _ in rows[:n_queries]], "it_tickets_dev.csv"
    print(f"note: {path} absent; using a generated ticket-like corpus")
    rng = random.Random(7)
    things = ["printer", "laptop", "vpn", "outlook", "teams", "sharepoint", "monitor", "mfa",
              "password", "wifi", "onedrive", "docking station", "scanner", "erp", "citrix"]
    faults = ["does not start", "keeps disconnecting", "shows error 0x80070005", "is very slow",
              "cannot sign in", "asks for credentials again", "crashed after the update",
              "needs to be installed", "lost the mapped drive", "prints blank pages"]
    cats = ["Hardware", "Access", "Miscellaneous", "Storage"]
    texts = [
        (f"user on site {rng.randint(1, 40)} reports the {rng.choice(things)} "
         f"{rng.choice(faults)} since {rng.choice(['monday', 'this morning', 'yesterday'])}, "
         f"please help urgently", rng.choice(cats))
        for _ in range(60_000)
    ]
    texts = list(dict.fromkeys(texts))
    return texts[n_queries:], [t for t, _ in texts[:n_queries]], "generated"


def shared_cache_lookup(
    texts: list[str], model_id: str, include_own: bool = False
) -> dict[int, np.ndarray]:
    """Vectors other benchmarks already cached for these exact texts (read-only, same model).

    Reads EmbeddingCache folders under bench/out/ (index.tsv + chunk .npy files) without writing;
    a torn last index line or a chunk not yet renamed into place is skipped.
    """
    keys = {hashlib.sha256(t.encode("utf-8")).hexdigest(): i for i, t in enumerate(texts)}
    found: dict[int, np.ndarray] = {}
    for folder in sorted((REPO / "bench" / "out").glob(f"*/{model_id}")) + sorted(
        (REPO / "bench" / "out").glob(f"*/*/{model_id}")
    ):
        own = folder == OUT / "embeddings" / model_id
        if (own and not include_own) or not (folder / "index.tsv").is_file():
            continue
        chunks: dict[str, np.ndarray] = {}
        for line in (folder / "index.tsv").read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) != 3 or parts[0] not in keys or keys[parts[0]] in found:
                continue
            if parts[1] not in chunks:
                try:
                    chunks[parts[1]] = np.load(folder / parts[1], mmap_mode="r")
                except (OSError, ValueError):
                    continue
            found[keys[parts[0]]] = np.asarray(chunks[parts[1]][int(parts[2])], dtype=np.float32)
    return found


def build_vectors(
    unique: list[tuple[str, str]], vecs: np.ndarray, size: int
) -> tuple[list[MemoryRecord], np.ndarray]:
    """``size`` memories: the real ones, then perturbed variants of them."""
    rng = np.random.default_rng(11)
    u = len(unique)
    out = np.empty((size, vecs.shape[1]), dtype=np.float32)
    records = []
    for i in range(size):
        j = i % u
        text, cat = unique[j]
        if i >= u:
            text = f"{text} site {i % 97} asset pc-{i:06d}"
            v = vecs[j] + rng.normal(0.0, 0.022, vecs.shape[1]).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
        else:
            out[i] = vecs[j]
        records.append(
            MemoryRecord(
                memory_id=f"mem_{i:07d}",
                tenant=TENANT,
                kind=MemoryKind.RESOLVED_TICKET,
                text=text,
                resolution=f"resolved by the {cat} queue",
                metadata={"category": cat},
                source_ticket_id=f"T-{i}",
                confirmed=i % 3 == 0,
                create_time=1.8e9,
            )
        )
    return records, out


async def run(args: argparse.Namespace) -> dict[str, object]:
    from titans.local.embedding import EmbeddingCache, MiniLMEmbedder

    model = MiniLMEmbedder.load()
    corpus, queries, source = load_corpus(args.queries)
    if args.cached_only:
        # Only memories whose real embedding some cache already holds: no embedding now.
        found = shared_cache_lookup([t for t, _ in corpus], model.model_id, include_own=True)
        chosen = sorted(found)[: min(args.unique, args.size)]
        corpus = [corpus[i] for i in chosen]
        print(f"--cached-only: {len(chosen)} memories have a cached real embedding")
    unique = corpus[: min(args.unique, args.size, len(corpus))]
    cache = EmbeddingCache(OUT / "embeddings", model.model_id)
    t0 = time.perf_counter()
    texts = [t for t, _ in unique]
    uvecs = np.zeros((len(texts), model.dim), dtype=np.float32)
    shared = 0
    for start in range(0, len(texts), 1000):  # chunks, so an interrupted run keeps its progress
        chunk = texts[start : start + 1000]
        found = shared_cache_lookup(chunk, model.model_id)
        shared += len(found)
        todo = [i for i in range(len(chunk)) if i not in found]
        for i, vec in found.items():
            uvecs[start + i] = vec
        if todo:
            uvecs[[start + i for i in todo]] = cache.embed(model, [chunk[i] for i in todo], batch_size=64)
        if cache.misses:
            print(f"  {start + len(chunk)}/{len(texts)} ({cache.misses} new, {shared} from other "
                  "benchmarks' caches)", flush=True)
    embed_s = time.perf_counter() - t0
    print(f"embedded {len(unique)} unique memory texts ({cache.misses} new) in {embed_s:.1f} s")
    if args.embed_only:
        return {"bench": "recall", "embedded": len(unique), "new": cache.misses, "shared": shared}
    records, vecs = build_vectors(unique, uvecs, args.size)

    data_dir = OUT / "data"
    shutil.rmtree(data_dir, ignore_errors=True)
    rss0 = _rss_mb()
    index = EmbeddedIndex(data_dir / "index", model.dim, ivf_min_rows=args.ivf_min_rows, nprobe=args.nprobe)
    t0 = time.perf_counter()
    for start in range(0, len(records), 5000):
        index.upsert_many_sync(list(zip(records[start : start + 5000], vecs[start : start + 5000], strict=True)))
    index.rebuild_sync(TENANT)
    build_s = time.perf_counter() - t0
    build_rss = _rss_mb() - rss0
    del records
    await index.close()
    t0 = time.perf_counter()
    index = EmbeddedIndex(data_dir / "index", model.dim, ivf_min_rows=args.ivf_min_rows, nprobe=args.nprobe)
    index.vector_search_sync(TENANT, vecs[0], 1)  # opens the shard: loads SQLite, trains IVF
    reopen_s = time.perf_counter() - t0
    vec_mb = index.memory_bytes(TENANT) / 2**20
    db_mb = sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file()) / 2**20
    print(f"index: {args.size} memories built in {build_s:.1f} s (reopen {reopen_s:.1f} s); "
          f"vectors {vec_mb:.0f} MiB in memory, {db_mb:.0f} MiB on disk, RSS +{build_rss:.0f} MiB")

    def model_batched() -> float:
        t = time.perf_counter()
        model.embed(queries, batch_size=64)
        return len(queries) / (time.perf_counter() - t)

    qvecs = model.embed(queries, batch_size=64)

    # recall@10 of the IVF index against exact search on the same vectors.
    overlap, ann_t, exact_t = [], [], []
    for qv in qvecs:
        t = time.perf_counter()
        approx = index.vector_search_sync(TENANT, qv, 10)
        ann_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        exact = index.vector_search_sync(TENANT, qv, 10, exact=True)
        exact_t.append(time.perf_counter() - t)
        overlap.append(len(set(approx) & set(exact)) / 10)
    recall10 = statistics.fmean(overlap)
    hybrid_t = []
    for q, qv in zip(queries, qvecs, strict=True):
        query = RecallQuery(tenant=TENANT, embedding=qv, terms=tuple(tokenize(q)), top_k=3)
        t = time.perf_counter()
        index.search_sync(query, time.time())
        hybrid_t.append(time.perf_counter() - t)
    print(f"hybrid search in process (vectors + BM25 + SQLite rows, no embedding): {_ms(hybrid_t)}")
    print(f"recall@10 IVF vs exact: {recall10:.3f}; vector search alone IVF {_ms(ann_t)} "
          f"exact {_ms(exact_t)}")

    service = ContextService(
        index=index,
        sessions=InMemorySessionStore(),
        embedder=MicroBatcher(model, window_s=args.window_ms / 1000),
        audit=AuditLog(data_dir / "audit.sqlite"),
    )
    srv = create_server(ContextSettings(grpc_addr="127.0.0.1:0"), ContextDeps(service))
    await srv.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{srv.port}")
    stub = pb_grpc.ContextServiceStub(channel)

    async def recall(text: str) -> float:
        t = time.perf_counter()
        resp = await stub.Recall(pb.RecallRequest(tenant=TENANT, query=text, top_k=3), timeout=30)
        assert len(resp.hits) == 3
        return time.perf_counter() - t

    try:
        for q in queries[:5]:
            await recall(q)  # warm-up
        # Paired samples: the model alone on a query, then Recall over gRPC of the same query,
        # so both see the same machine load (this machine is shared and noisy).
        single: list[float] = []
        lat1: list[float] = []
        for i, q in enumerate(queries):
            if i < args.model_singles:
                t = time.perf_counter()
                await asyncio.to_thread(model.embed, [q])
                single.append(time.perf_counter() - t)
            lat1.append(await recall(q))
        overhead = [b - a for a, b in zip(single, lat1, strict=False)]
        print(f"model alone, single text: {_ms(single)}")
        print(f"Recall over gRPC, 1 in flight: {_ms(lat1)}; paired overhead over the model "
              f"p50 {statistics.median(overhead) * 1000:.2f} ms")
        model_tps_before = await asyncio.to_thread(model_batched)
        batches0, texts0 = service_batcher_counts(service)
        pending = list(queries)
        lat10: list[float] = []

        async def worker() -> None:
            while pending:
                lat10.append(await recall(pending.pop()))

        t = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(10)))
        qps10 = len(queries) / (time.perf_counter() - t)
        batches1, texts1 = service_batcher_counts(service)
        mean_batch = (texts1 - texts0) / max(batches1 - batches0, 1)
        model_tps = (model_tps_before + await asyncio.to_thread(model_batched)) / 2
        print(f"model alone, batched (mean of before and after): {model_tps:.1f} texts/s")
        print(f"Recall over gRPC, 10 in flight: {qps10:.1f} queries/s {_ms(lat10)}; "
              f"mean embed batch {mean_batch:.1f}; ratio to the model's batched throughput "
              f"{qps10 / model_tps:.2f}")
    finally:
        await channel.close()
        await srv.stop(1.0)
        await service.close()

    p1 = _ms(lat1)
    return {
        "bench": "recall",
        "memories": args.size,
        "real_embeddings": len(unique),
        "real_embeddings_from_shared_caches": shared,
        "variant_embeddings": args.size - len(unique),
        "corpus": source,
        "queries": len(queries),
        "index": f"ivf nlist~sqrt(n) nprobe={args.nprobe} (exact below {args.ivf_min_rows})",
        "build_s": round(build_s, 2),
        "reopen_s": round(reopen_s, 2),
        "vectors_mib": round(vec_mb, 1),
        "disk_mib": round(db_mb, 1),
        "build_rss_mib": round(build_rss, 1),
        "recall_at_10": round(recall10, 4),
        "ivf_search_p50_ms": _ms(ann_t)["p50_ms"],
        "exact_search_p50_ms": _ms(exact_t)["p50_ms"],
        "hybrid_search_p50_ms": _ms(hybrid_t)["p50_ms"],
        "hybrid_search_p95_ms": _ms(hybrid_t)["p95_ms"],
        "model_single_p50_ms": _ms(single)["p50_ms"],
        "model_batched_texts_per_s": round(model_tps, 1),
        "recall_1_in_flight": p1,
        "server_overhead_paired_p50_ms": round(statistics.median(overhead) * 1000, 2),
        "recall_10_in_flight_qps": round(qps10, 1),
        "recall_10_in_flight": _ms(lat10),
        "qps_ratio_to_model": round(qps10 / model_tps, 3),
        "mean_embed_batch_at_10": round(mean_batch, 2),
        "p95_target_20ms_met": p1["p95_ms"] <= 20.0,
    }


def service_batcher_counts(service: ContextService) -> tuple[int, int]:
    batcher = service._embedder  # the benchmark reads the batcher's counters
    return batcher.batches, batcher.texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000, help="memories in the tenant")
    parser.add_argument("--unique", type=int, default=100_000, help="memories with a real embedding")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--model-singles", type=int, default=100)
    parser.add_argument("--nprobe", type=int, default=32)
    parser.add_argument("--ivf-min-rows", type=int, default=20_000)
    parser.add_argument("--window-ms", type=float, default=2.0)
    parser.add_argument("--embed-only", action="store_true", help="only fill the embedding cache")
    parser.add_argument("--cached-only", action="store_true",
                        help="use only memories whose embedding is already cached (embed nothing)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    OUT.mkdir(parents=True, exist_ok=True)
    result = asyncio.run(run(args))
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
