"""The embedded long-term index: one SQLite file per tenant plus an in-memory IVF vector index.

Each tenant is a shard in its own folder (``<root>/<tenant>/memories.sqlite``) holding the
redacted text, metadata, hashed subject ids and the float32 vector of every memory; nothing is
shared between tenants, so a search can only ever see its own tenant. Deletes are real:
``PRAGMA secure_delete`` zeroes the freed pages, and the in-memory arrays are compacted.

Search is exact below ``ivf_min_rows`` memories; above, an inverted-file index (spherical
k-means, lists stored contiguously) scans the ``nprobe`` nearest lists plus the rows added since
training. Keyword scoring (BM25) re-ranks the semantic candidates; identifier tokens (error codes,
KB numbers) are also looked up exactly so a rare code is found even when the wording differs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import shutil
import sqlite3
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from context.keywords import bm25, counts, is_identifier
from context.models import EraseSelector, MemoryKind, MemoryRecord, RecallHit, RecallQuery
from federation.tenancy import validate_tenant

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS memories (
  rid INTEGER PRIMARY KEY,
  memory_id TEXT NOT NULL UNIQUE,
  kind INTEGER NOT NULL,
  text TEXT NOT NULL,
  resolution TEXT NOT NULL,
  metadata TEXT NOT NULL,
  source_ticket_id TEXT NOT NULL,
  confirmed INTEGER NOT NULL,
  create_time REAL NOT NULL,
  expire_time REAL,
  vec BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS memories_ticket ON memories(source_ticket_id);
CREATE TABLE IF NOT EXISTS subjects (
  subject_hash TEXT NOT NULL,
  rid INTEGER NOT NULL,
  PRIMARY KEY (subject_hash, rid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS subjects_rid ON subjects(rid);
"""
_COLS = (
    "rid, memory_id, kind, text, resolution, metadata, source_ticket_id, confirmed, "
    "create_time, expire_time"
)


def _record(tenant: str, row: tuple[object, ...], subjects: tuple[str, ...] = ()) -> MemoryRecord:
    return MemoryRecord(
        memory_id=str(row[1]),
        tenant=tenant,
        kind=MemoryKind(int(row[2])),  # type: ignore[call-overload]
        text=str(row[3]),
        resolution=str(row[4]),
        metadata=json.loads(str(row[5])),
        source_ticket_id=str(row[6]),
        confirmed=bool(row[7]),
        create_time=float(row[8]),  # type: ignore[arg-type]
        expire_time=None if row[9] is None else float(row[9]),  # type: ignore[arg-type]
        subject_hashes=subjects,
    )


class _Shard:
    """One tenant's memories: the SQLite file and the arrays searched in memory."""

    def __init__(self, tenant: str, folder: Path, dim: int, ivf_min_rows: int, nprobe: int) -> None:
        self.tenant = tenant
        self.folder = folder
        self.dim = dim
        self.ivf_min_rows = ivf_min_rows
        self.nprobe = nprobe
        self.lock = threading.RLock()
        folder.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(folder / "memories.sqlite", check_same_thread=False)
        self.db.execute("PRAGMA secure_delete=ON")
        self.db.execute("PRAGMA journal_mode=DELETE")
        self.db.executescript(_SCHEMA)
        self.n = 0
        self.vecs = np.zeros((0, dim), dtype=np.float32)
        self.rids = np.zeros(0, dtype=np.int64)
        self.kinds = np.zeros(0, dtype=np.int8)
        self.confirmed = np.zeros(0, dtype=bool)
        self.expires = np.zeros(0, dtype=np.float64)
        self.pos_of: dict[int, int] = {}
        self.meta_index: dict[tuple[str, str], set[int]] = defaultdict(set)
        self.id_postings: dict[str, set[int]] = defaultdict(set)
        self.df: Counter[str] = Counter()
        self.total_len = 0
        # IVF state: rows [0, n_listed) are grouped by list; rows after are the unindexed tail.
        self.centroids: np.ndarray | None = None
        self.list_offsets = np.zeros(1, dtype=np.int64)
        self.n_listed = 0
        self._load()

    # ---- loading and bookkeeping -------------------------------------------------------------

    def _load(self) -> None:
        rows = self.db.execute(
            "SELECT rid, kind, confirmed, expire_time, metadata, text, resolution, vec "
            "FROM memories ORDER BY rid"
        ).fetchall()
        n = len(rows)
        self._reserve(n)
        if n:
            blob = b"".join(r[7] for r in rows)
            self.vecs[:n] = np.frombuffer(blob, dtype=np.float32).reshape(n, self.dim)
            self.rids[:n] = [r[0] for r in rows]
            self.kinds[:n] = [r[1] for r in rows]
            self.confirmed[:n] = [bool(r[2]) for r in rows]
            self.expires[:n] = [math.inf if r[3] is None else r[3] for r in rows]
        for i, (rid, _kind, _conf, _exp, meta, text, resolution, _vec) in enumerate(rows):
            self.pos_of[rid] = i
            self._index_terms(rid, json.loads(meta), f"{text}\n{resolution}", +1)
        self.n = n
        self.maybe_train()

    def _reserve(self, extra: int) -> None:
        need = self.n + extra
        cap = self.vecs.shape[0]
        if need <= cap:
            return
        new_cap = max(need, cap * 2, 64)
        for name in ("vecs", "rids", "kinds", "confirmed", "expires"):
            old = getattr(self, name)
            new = np.zeros((new_cap, *old.shape[1:]), dtype=old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)

    def _index_terms(self, rid: int, meta: dict[str, str], text: str, sign: int) -> None:
        for pair in meta.items():
            if sign > 0:
                self.meta_index[pair].add(rid)
            else:
                s = self.meta_index.get(pair)
                if s is not None:
                    s.discard(rid)
                    if not s:
                        del self.meta_index[pair]
        c, length = counts(text)
        self.total_len += sign * length
        for term in c:
            self.df[term] += sign
            if self.df[term] <= 0:
                del self.df[term]
            if is_identifier(term):
                if sign > 0:
                    self.id_postings[term].add(rid)
                else:
                    p = self.id_postings.get(term)
                    if p is not None:
                        p.discard(rid)
                        if not p:
                            del self.id_postings[term]

    # ---- IVF ---------------------------------------------------------------------------------

    def maybe_train(self, force: bool = False) -> None:
        """(Re)build the IVF lists when the shard is big enough and the tail has grown."""
        if self.n < self.ivf_min_rows and not force:
            if self.centroids is not None:
                self.centroids, self.n_listed = None, 0
            return
        if not force and self.centroids is not None and self.n - self.n_listed <= max(
            2000, self.n_listed // 4
        ):
            return
        n = self.n
        nlist = max(8, int(round(math.sqrt(n))))
        rng = np.random.default_rng(0)
        sample = self.vecs[rng.choice(n, size=min(n, 64 * nlist), replace=False)]
        cents = sample[rng.choice(len(sample), size=nlist, replace=False)].copy()
        for _ in range(10):
            assign = np.argmax(sample @ cents.T, axis=1)
            sums = np.zeros_like(cents)
            np.add.at(sums, assign, sample)
            empty = np.bincount(assign, minlength=nlist) == 0
            sums[empty] = cents[empty]
            cents = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
        assign = np.empty(n, dtype=np.int64)
        for start in range(0, n, 16384):
            stop = min(start + 16384, n)
            assign[start:stop] = np.argmax(self.vecs[start:stop] @ cents.T, axis=1)
        order = np.argsort(assign, kind="stable")
        for name in ("vecs", "rids", "kinds", "confirmed", "expires"):
            arr = getattr(self, name)
            arr[:n] = arr[:n][order]
        self.pos_of = {int(r): i for i, r in enumerate(self.rids[:n])}
        self.list_offsets = np.concatenate(([0], np.cumsum(np.bincount(assign, minlength=nlist))))
        self.centroids = cents.astype(np.float32)
        self.n_listed = n
        log.info("context index: trained %d lists over %d memories", nlist, n)

    def _scan(self, q: np.ndarray, nprobe: int) -> tuple[np.ndarray, np.ndarray]:
        """Positions and cosine scores of the probed lists and the tail (contiguous slices)."""
        assert self.centroids is not None
        sims = self.centroids @ q
        k = min(nprobe, len(sims))
        probe = np.sort(np.argpartition(-sims, k - 1)[:k])
        pos_parts: list[np.ndarray] = []
        score_parts: list[np.ndarray] = []
        for p in probe:
            a, b = int(self.list_offsets[p]), int(self.list_offsets[p + 1])
            if b > a:
                pos_parts.append(np.arange(a, b))
                # einsum, not BLAS: many small products are faster on one thread than split
                # across BLAS threads that wait for a busy second core.
                score_parts.append(np.einsum("ij,j->i", self.vecs[a:b], q))
        if self.n > self.n_listed:
            pos_parts.append(np.arange(self.n_listed, self.n))
            score_parts.append(np.einsum("ij,j->i", self.vecs[self.n_listed : self.n], q))
        if not pos_parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return np.concatenate(pos_parts), np.concatenate(score_parts)

    def vector_top(
        self, q: np.ndarray, k: int, mask: np.ndarray | None, exact: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Positions and scores of the ``k`` nearest allowed rows."""
        n = self.n
        if n == 0 or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        allowed = None if mask is None else int(mask.sum())
        use_ivf = self.centroids is not None and not exact
        if use_ivf and allowed is not None and allowed <= max(4 * self.ivf_min_rows // 10, k):
            use_ivf = False  # a selective filter: exact over the few allowed rows is cheaper
        if use_ivf:
            pos, scores = self._scan(q, self.nprobe)
            if mask is not None:
                keep = mask[pos]
                pos, scores = pos[keep], scores[keep]
            if len(pos) < k and allowed is not None and allowed > len(pos):
                use_ivf = False
        if not use_ivf:
            if mask is None:
                pos = np.arange(n)
                scores = self.vecs[:n] @ q
            else:
                pos = np.flatnonzero(mask)
                scores = self.vecs[pos] @ q
        if len(pos) > k:
            top = np.argpartition(-scores, k - 1)[:k]
            pos, scores = pos[top], scores[top]
        order = np.argsort(-scores, kind="stable")
        return pos[order], scores[order]

    # ---- writes ------------------------------------------------------------------------------

    def upsert_many(self, items: list[tuple[MemoryRecord, np.ndarray]]) -> None:
        existing = [r.memory_id for r, _ in items]
        old_rids: list[int] = []
        for chunk in _chunks(existing, 500):
            marks = ",".join("?" * len(chunk))
            old_rids += [
                int(r)
                for (r,) in self.db.execute(
                    f"SELECT rid FROM memories WHERE memory_id IN ({marks})", chunk
                )
            ]
        if old_rids:
            self._delete_rids(old_rids, commit=False)
        new_rows: list[tuple[int, MemoryRecord, np.ndarray]] = []
        for record, vec in items:
            v = np.asarray(vec, dtype=np.float32).reshape(self.dim)
            cur = self.db.execute(
                "INSERT INTO memories (memory_id, kind, text, resolution, metadata, "
                "source_ticket_id, confirmed, create_time, expire_time, vec) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    record.memory_id,
                    int(record.kind),
                    record.text,
                    record.resolution,
                    json.dumps(dict(record.metadata), sort_keys=True),
                    record.source_ticket_id,
                    int(record.confirmed),
                    record.create_time,
                    record.expire_time,
                    v.tobytes(),
                ),
            )
            rid = int(cur.lastrowid or 0)
            self.db.executemany(
                "INSERT OR IGNORE INTO subjects (subject_hash, rid) VALUES (?, ?)",
                [(h, rid) for h in record.subject_hashes],
            )
            new_rows.append((rid, record, v))
        self.db.commit()
        self._reserve(len(new_rows))
        for rid, record, v in new_rows:
            i = self.n
            self.vecs[i] = v
            self.rids[i] = rid
            self.kinds[i] = int(record.kind)
            self.confirmed[i] = record.confirmed
            self.expires[i] = math.inf if record.expire_time is None else record.expire_time
            self.pos_of[rid] = i
            self._index_terms(rid, dict(record.metadata), f"{record.text}\n{record.resolution}", +1)
            self.n += 1
        self.maybe_train()

    def _delete_rids(self, rids: Iterable[int], commit: bool = True) -> int:
        rid_list = sorted({int(r) for r in rids})
        if not rid_list:
            return 0
        for chunk in _chunks(rid_list, 500):
            marks = ",".join("?" * len(chunk))
            for rid, meta, text, resolution in self.db.execute(
                f"SELECT rid, metadata, text, resolution FROM memories WHERE rid IN ({marks})", chunk
            ).fetchall():
                self._index_terms(int(rid), json.loads(meta), f"{text}\n{resolution}", -1)
            self.db.execute(f"DELETE FROM subjects WHERE rid IN ({marks})", chunk)
            self.db.execute(f"DELETE FROM memories WHERE rid IN ({marks})", chunk)
        if commit:
            self.db.commit()
        positions = np.array(sorted(self.pos_of.pop(r) for r in rid_list if r in self.pos_of))
        if len(positions):
            keep = np.ones(self.n, dtype=bool)
            keep[positions] = False
            if self.centroids is not None:
                removed_listed = positions[positions < self.n_listed]
                if len(removed_listed):
                    lists = np.searchsorted(self.list_offsets, removed_listed, side="right") - 1
                    per_list = np.bincount(lists, minlength=len(self.centroids))
                    self.list_offsets = self.list_offsets - np.concatenate(
                        ([0], np.cumsum(per_list))
                    )
                    self.n_listed -= len(removed_listed)
            for name in ("vecs", "rids", "kinds", "confirmed", "expires"):
                arr = getattr(self, name)
                kept = arr[: self.n][keep]
                arr[: len(kept)] = kept
                arr[len(kept) : self.n] = 0  # erased vectors do not linger in memory either
            self.n -= len(positions)
            self.pos_of = {int(r): i for i, r in enumerate(self.rids[: self.n])}
            if self.n < self.ivf_min_rows:
                self.centroids, self.n_listed = None, 0
        return len(rid_list)

    def delete(self, selector: EraseSelector) -> int:
        if selector.memory_id:
            rows = self.db.execute(
                "SELECT rid FROM memories WHERE memory_id = ?", (selector.memory_id,)
            ).fetchall()
        elif selector.source_ticket_id:
            rows = self.db.execute(
                "SELECT rid FROM memories WHERE source_ticket_id = ?", (selector.source_ticket_id,)
            ).fetchall()
        elif selector.subject_hash:
            rows = self.db.execute(
                "SELECT rid FROM subjects WHERE subject_hash = ?", (selector.subject_hash,)
            ).fetchall()
        else:
            return 0
        deleted = self._delete_rids(int(r) for (r,) in rows)
        if deleted:
            self.db.execute("VACUUM")
        return deleted

    def purge_expired(self, now: float) -> int:
        if self.n == 0 or float(self.expires[: self.n].min()) > now:
            return 0
        expired = self.rids[: self.n][self.expires[: self.n] <= now]
        # secure_delete zeroes the freed pages, so no VACUUM (a full rewrite) on this hot path.
        return self._delete_rids(int(r) for r in expired)

    # ---- reads -------------------------------------------------------------------------------

    def get(self, memory_id: str) -> MemoryRecord | None:
        row = self.db.execute(
            f"SELECT {_COLS} FROM memories WHERE memory_id = ?", (memory_id,)
        ).fetchone()
        if row is None:
            return None
        subjects = tuple(
            h for (h,) in self.db.execute("SELECT subject_hash FROM subjects WHERE rid = ?", (row[0],))
        )
        return _record(self.tenant, row, subjects)

    def _mask(self, query: RecallQuery, now: float) -> np.ndarray | None:
        n = self.n
        mask: np.ndarray | None = None

        def both(m: np.ndarray) -> np.ndarray:
            return m if mask is None else mask & m

        if query.kinds:
            mask = both(np.isin(self.kinds[:n], [int(k) for k in query.kinds]))
        if query.only_confirmed:
            mask = both(self.confirmed[:n].copy())
        for pair in query.metadata_filter.items():
            m = np.zeros(n, dtype=bool)
            rids = self.meta_index.get(pair, ())
            if rids:
                m[[self.pos_of[r] for r in rids if r in self.pos_of]] = True
            mask = both(m)
        return mask

    def _fetch(self, cols: str, rids: list[int]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        for chunk in _chunks(rids, 500):
            marks = ",".join("?" * len(chunk))
            rows += self.db.execute(f"SELECT {cols} FROM memories WHERE rid IN ({marks})", chunk)
        return rows

    def search(self, query: RecallQuery, now: float, alpha: float, pool: int) -> list[RecallHit]:
        self.purge_expired(now)
        q = np.asarray(query.embedding, dtype=np.float32).reshape(self.dim)
        mask = self._mask(query, now)
        # Semantic candidates: a few times top_k is enough for BM25 to re-rank.
        pos, sem = self.vector_top(q, min(pool, max(20, 4 * query.top_k)), mask)
        cand: dict[int, float] = {int(p): float(s) for p, s in zip(pos, sem, strict=True)}
        for term in dict.fromkeys(t for t in query.terms if is_identifier(t)):
            for rid in list(self.id_postings.get(term, ()))[:pool]:
                p = self.pos_of.get(rid)
                if p is not None and p not in cand and (mask is None or mask[p]):
                    cand[p] = float(self.vecs[p] @ q)
        if not cand:
            return []
        by_rid = {int(self.rids[p]): s for p, s in cand.items()}
        avg_len = self.total_len / max(self.n, 1)
        scored: list[tuple[int, float, float, tuple[str, ...]]] = []
        for row_id, text, resolution in self._fetch("rid, text, resolution", list(by_rid)):
            c, length = counts(f"{text}\n{resolution}")
            kw, matched = bm25(query.terms, c, length, self.df, self.n, avg_len)
            scored.append((int(row_id), by_rid[int(row_id)], kw, matched))
        top_kw = max((s[2] for s in scored), default=0.0)
        ranked = sorted(
            (
                (alpha * sem_s + (1 - alpha) * (kw / top_kw if top_kw > 0 else 0.0), rid, sem_s,
                 kw / top_kw if top_kw > 0 else 0.0, matched)
                for rid, sem_s, kw, matched in scored
            ),
            key=lambda r: (-r[0], r[1]),
        )[: query.top_k]
        records = {
            int(row[0]): _record(self.tenant, row)
            for row in self._fetch(_COLS, [r[1] for r in ranked])
        }
        return [
            RecallHit(memory=records[rid], score=score, semantic_score=sem_s,
                      keyword_score=kw_n, matched_terms=matched)
            for score, rid, sem_s, kw_n, matched in ranked
        ]

    def close(self) -> None:
        self.db.close()


def _chunks(items: list[object] | list[int] | list[str], size: int) -> Iterable[list]:  # type: ignore[type-arg]
    for i in range(0, len(items), size):
        yield items[i : i + size]


class EmbeddedIndex:
    """The default long-term index: per-tenant SQLite shards under ``root`` searched in memory."""

    def __init__(
        self,
        root: Path,
        dim: int,
        *,
        ivf_min_rows: int = 20_000,
        nprobe: int = 32,
        alpha: float = 0.8,
        candidate_pool: int = 50,
    ) -> None:
        self._root = root
        self._dim = dim
        self._ivf_min_rows = ivf_min_rows
        self._nprobe = nprobe
        self._alpha = alpha
        self._pool = candidate_pool
        self._shards: dict[str, _Shard] = {}
        self._open_lock = threading.Lock()
        root.mkdir(parents=True, exist_ok=True)

    def _folder(self, tenant: str) -> Path:
        return self._root / validate_tenant(tenant)

    def _shard(self, tenant: str, create: bool) -> _Shard | None:
        with self._open_lock:
            shard = self._shards.get(tenant)
            if shard is None:
                folder = self._folder(tenant)
                if not create and not (folder / "memories.sqlite").exists():
                    return None
                shard = _Shard(tenant, folder, self._dim, self._ivf_min_rows, self._nprobe)
                self._shards[tenant] = shard
            return shard

    # Synchronous API (used by the async one through a worker thread, and by the benchmark).

    def upsert_many_sync(self, items: list[tuple[MemoryRecord, np.ndarray]]) -> None:
        by_tenant: dict[str, list[tuple[MemoryRecord, np.ndarray]]] = defaultdict(list)
        for rec, vec in items:
            by_tenant[rec.tenant].append((rec, vec))
        for tenant, group in by_tenant.items():
            shard = self._shard(tenant, create=True)
            assert shard is not None
            with shard.lock:
                shard.upsert_many(group)

    def search_sync(self, query: RecallQuery, now: float) -> list[RecallHit]:
        shard = self._shard(query.tenant, create=False)
        if shard is None:
            return []
        with shard.lock:
            return shard.search(query, now, self._alpha, self._pool)

    def vector_search_sync(
        self, tenant: str, vector: np.ndarray, k: int, exact: bool = False
    ) -> list[str]:
        """Memory ids of the ``k`` nearest vectors (semantic only), approximate or exact."""
        shard = self._shard(tenant, create=False)
        if shard is None:
            return []
        with shard.lock:
            pos, _ = shard.vector_top(np.asarray(vector, dtype=np.float32), k, None, exact=exact)
            rids = [int(shard.rids[p]) for p in pos]
            out: list[str] = []
            for rid in rids:
                (mid,) = shard.db.execute(
                    "SELECT memory_id FROM memories WHERE rid = ?", (rid,)
                ).fetchone()
                out.append(str(mid))
            return out

    def rebuild_sync(self, tenant: str) -> None:
        """Retrain the tenant's IVF lists now (for example after a bulk load)."""
        shard = self._shard(tenant, create=False)
        if shard is not None:
            with shard.lock:
                shard.maybe_train(force=shard.n >= self._ivf_min_rows)

    def get_sync(self, tenant: str, memory_id: str, now: float) -> MemoryRecord | None:
        shard = self._shard(tenant, create=False)
        if shard is None:
            return None
        with shard.lock:
            shard.purge_expired(now)
            return shard.get(memory_id)

    def delete_sync(self, selector: EraseSelector) -> int:
        if selector.entire_tenant:
            folder = self._folder(selector.tenant)
            with self._open_lock:
                shard = self._shards.pop(selector.tenant, None)
            count = 0
            if shard is not None:
                with shard.lock:
                    count = shard.n
                    shard.close()
            elif (folder / "memories.sqlite").exists():
                con = sqlite3.connect(folder / "memories.sqlite")
                (count,) = con.execute("SELECT COUNT(*) FROM memories").fetchone()
                con.close()
            shutil.rmtree(folder, ignore_errors=True)
            return int(count)
        shard = self._shard(selector.tenant, create=False)
        if shard is None:
            return 0
        with shard.lock:
            return shard.delete(selector)

    def purge_expired_sync(self, now: float) -> int:
        total = 0
        for folder in sorted(p for p in self._root.iterdir() if p.is_dir()):
            shard = self._shard(folder.name, create=False)
            if shard is not None:
                with shard.lock:
                    total += shard.purge_expired(now)
        return total

    def memory_bytes(self, tenant: str) -> int:
        """Bytes held by the tenant's vector arrays (for the benchmark's report)."""
        shard = self._shard(tenant, create=False)
        if shard is None:
            return 0
        return int(shard.vecs.nbytes + shard.rids.nbytes + shard.expires.nbytes)

    # The LongTermIndex port.

    async def upsert(self, record: MemoryRecord, vector: np.ndarray) -> None:
        await asyncio.to_thread(self.upsert_many_sync, [(record, vector)])

    async def get(self, tenant: str, memory_id: str, now: float) -> MemoryRecord | None:
        return await asyncio.to_thread(self.get_sync, tenant, memory_id, now)

    async def search(self, query: RecallQuery, now: float) -> list[RecallHit]:
        return await asyncio.to_thread(self.search_sync, query, now)

    async def delete(self, selector: EraseSelector) -> int:
        return await asyncio.to_thread(self.delete_sync, selector)

    async def purge_expired(self, now: float) -> int:
        return await asyncio.to_thread(self.purge_expired_sync, now)

    async def close(self) -> None:
        with self._open_lock:
            shards, self._shards = list(self._shards.values()), {}
        for shard in shards:
            with shard.lock:
                shard.close()
