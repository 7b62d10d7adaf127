"""Azure AI Search adapter of the long-term index (REST over httpx).

One search index holds every tenant's memories; each document carries a filterable ``tenant``
field and every query this adapter sends ANDs ``tenant eq '<tenant>'`` into its filter, so a
caller's metadata filter can never reach another tenant. Metadata is stored as ``key=value``
strings in a filterable collection. Recall sends a vector query (HNSW, cosine) and a keyword
query (BM25) and fuses them exactly as the embedded index does.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np

from context.keywords import bm25, counts
from context.models import EraseSelector, MemoryKind, MemoryRecord, RecallHit, RecallQuery
from federation.errors import Unavailable
from federation.tenancy import validate_tenant

log = logging.getLogger(__name__)

_SELECT = (
    "id,tenant,kind,text,resolution,meta_pairs,source_ticket_id,confirmed,create_time,expire_time"
)
_NO_EXPIRY = 1e18  # a filterable stand-in for "never"


def _q(value: str) -> str:
    """An OData string literal."""
    return "'" + value.replace("'", "''") + "'"


def index_schema(name: str, dim: int) -> dict[str, Any]:
    """The search index definition: keys, tenant filter, searchable text and a 384-d HNSW vector."""
    return {
        "name": name,
        "fields": [
            {"name": "id", "type": "Edm.String", "key": True, "filterable": True},
            {"name": "tenant", "type": "Edm.String", "filterable": True, "facetable": False},
            {"name": "kind", "type": "Edm.Int32", "filterable": True},
            {"name": "text", "type": "Edm.String", "searchable": True},
            {"name": "resolution", "type": "Edm.String", "searchable": True},
            {"name": "meta_pairs", "type": "Collection(Edm.String)", "filterable": True},
            {"name": "source_ticket_id", "type": "Edm.String", "filterable": True},
            {"name": "confirmed", "type": "Edm.Boolean", "filterable": True},
            {"name": "create_time", "type": "Edm.Double", "filterable": True, "sortable": True},
            {"name": "expire_time", "type": "Edm.Double", "filterable": True},
            {"name": "subject_hashes", "type": "Collection(Edm.String)", "filterable": True,
             "retrievable": False},
            {
                "name": "embedding",
                "type": "Collection(Edm.Single)",
                "searchable": True,
                "retrievable": False,
                "dimensions": dim,
                "vectorSearchProfile": "omega-hnsw-profile",
            },
        ],
        "vectorSearch": {
            "algorithms": [
                {
                    "name": "omega-hnsw",
                    "kind": "hnsw",
                    "hnswParameters": {
                        "metric": "cosine", "m": 8, "efConstruction": 400, "efSearch": 200,
                    },
                }
            ],
            "profiles": [{"name": "omega-hnsw-profile", "algorithm": "omega-hnsw"}],
        },
    }


class AzureSearchIndex:
    """The LongTermIndex port on Azure AI Search (api-key auth, one index for all tenants)."""

    def __init__(
        self,
        *,
        endpoint: str,
        api_key: str,
        index_name: str,
        dim: int,
        api_version: str = "2024-07-01",
        alpha: float = 0.8,
        candidate_pool: int = 50,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._base = endpoint.rstrip("/")
        self._index = index_name
        self._dim = dim
        self._version = api_version
        self._alpha = alpha
        self._pool = candidate_pool
        self._client = client or httpx.AsyncClient(timeout=10.0)
        self._headers = {"api-key": api_key, "Content-Type": "application/json"}
        self._ensured = False

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            resp = await self._client.request(
                method,
                f"{self._base}{path}",
                params={"api-version": self._version},
                headers=self._headers,
                json=body,
            )
        except httpx.HTTPError as exc:
            raise Unavailable("Azure AI Search is unreachable", reason="INDEX_UNAVAILABLE") from exc
        if resp.status_code == 404 and method == "GET":
            return None
        if resp.status_code >= 400:
            log.warning("azure search %s %s answered %d", method, path, resp.status_code)
            raise Unavailable(
                f"Azure AI Search answered {resp.status_code}", reason="INDEX_UNAVAILABLE"
            )
        return resp.json() if resp.content else None

    async def ensure_index(self) -> None:
        """Create or update the index definition (idempotent)."""
        if not self._ensured:
            await self._call("PUT", f"/indexes/{self._index}", index_schema(self._index, self._dim))
            self._ensured = True

    def _doc(self, rec: MemoryRecord, vec: np.ndarray) -> dict[str, Any]:
        return {
            "@search.action": "mergeOrUpload",
            "id": rec.memory_id,
            "tenant": validate_tenant(rec.tenant),
            "kind": int(rec.kind),
            "text": rec.text,
            "resolution": rec.resolution,
            "meta_pairs": [f"{k}={v}" for k, v in sorted(rec.metadata.items())],
            "source_ticket_id": rec.source_ticket_id,
            "confirmed": rec.confirmed,
            "create_time": rec.create_time,
            "expire_time": rec.expire_time if rec.expire_time is not None else _NO_EXPIRY,
            "subject_hashes": list(rec.subject_hashes),
            "embedding": [float(x) for x in np.asarray(vec, dtype=np.float32).reshape(-1)],
        }

    @staticmethod
    def _record(doc: dict[str, Any]) -> MemoryRecord:
        meta = dict(p.split("=", 1) for p in doc.get("meta_pairs") or [] if "=" in p)
        exp = doc.get("expire_time")
        return MemoryRecord(
            memory_id=doc["id"],
            tenant=doc["tenant"],
            kind=MemoryKind(int(doc["kind"])),
            text=doc.get("text") or "",
            resolution=doc.get("resolution") or "",
            metadata=meta,
            source_ticket_id=doc.get("source_ticket_id") or "",
            confirmed=bool(doc.get("confirmed")),
            create_time=float(doc.get("create_time") or 0.0),
            expire_time=None if exp is None or exp >= _NO_EXPIRY else float(exp),
        )

    async def upsert(self, record: MemoryRecord, vector: np.ndarray) -> None:
        await self.ensure_index()
        await self._call(
            "POST", f"/indexes/{self._index}/docs/index", {"value": [self._doc(record, vector)]}
        )

    async def get(self, tenant: str, memory_id: str, now: float) -> MemoryRecord | None:
        await self.ensure_index()
        doc = await self._call("GET", f"/indexes/{self._index}/docs/{quote(memory_id, safe='')}")
        if doc is None or doc.get("tenant") != validate_tenant(tenant):
            return None
        rec = self._record(doc)
        if rec.expire_time is not None and rec.expire_time <= now:
            await self._delete_ids([rec.memory_id])
            return None
        return rec

    def _filter(self, query: RecallQuery, now: float) -> str:
        clauses = [f"tenant eq {_q(validate_tenant(query.tenant))}", f"expire_time gt {now!r}"]
        if query.kinds:
            clauses.append("(" + " or ".join(f"kind eq {int(k)}" for k in sorted(query.kinds)) + ")")
        if query.only_confirmed:
            clauses.append("confirmed eq true")
        for key, value in sorted(query.metadata_filter.items()):
            clauses.append(f"meta_pairs/any(m: m eq {_q(f'{key}={value}')})")
        return " and ".join(clauses)

    async def search(self, query: RecallQuery, now: float) -> list[RecallHit]:
        await self.ensure_index()
        flt = self._filter(query, now)
        pool = max(self._pool, query.top_k)
        vec = [float(x) for x in np.asarray(query.embedding, dtype=np.float32).reshape(-1)]
        path = f"/indexes/{self._index}/docs/search"
        vec_res = await self._call(
            "POST",
            path,
            {
                "select": _SELECT,
                "filter": flt,
                "top": pool,
                "vectorQueries": [
                    {"kind": "vector", "vector": vec, "fields": "embedding", "k": pool}
                ],
            },
        )
        docs: dict[str, dict[str, Any]] = {}
        sem: dict[str, float] = {}
        for doc in (vec_res or {}).get("value", []):
            docs[doc["id"]] = doc
            # For cosine, Azure's score is 1 / (1 + (1 - cos)).
            sem[doc["id"]] = 2.0 - 1.0 / max(float(doc["@search.score"]), 1e-9)
        terms = list(dict.fromkeys(query.terms))
        if terms:
            kw_res = await self._call(
                "POST",
                path,
                {
                    "select": _SELECT,
                    "filter": flt,
                    "top": pool,
                    "search": " ".join(terms[:64]),
                    "searchFields": "text,resolution",
                    "searchMode": "any",
                    "queryType": "simple",
                },
            )
            for doc in (kw_res or {}).get("value", []):
                docs.setdefault(doc["id"], doc)
        missing = [i for i in docs if i not in sem]
        for mid in missing:
            # Keyword-only hits: no vector was returned; rank them by keywords alone.
            sem[mid] = 0.0
        records = {mid: self._record(doc) for mid, doc in docs.items()}
        # BM25 over the candidates with the candidates' own statistics.
        stats = {mid: counts(f"{r.text}\n{r.resolution}") for mid, r in records.items()}
        df: dict[str, int] = {}
        for c, _ in stats.values():
            for t in c:
                df[t] = df.get(t, 0) + 1
        n = max(len(stats), 1)
        avg = sum(length for _, length in stats.values()) / n
        kw = {mid: bm25(terms, c, ln, df, n, avg) for mid, (c, ln) in stats.items()}
        top_kw = max((s for s, _ in kw.values()), default=0.0)
        hits = []
        for mid, rec in records.items():
            k_norm = kw[mid][0] / top_kw if top_kw > 0 else 0.0
            hits.append(
                RecallHit(
                    memory=rec,
                    score=self._alpha * sem[mid] + (1 - self._alpha) * k_norm,
                    semantic_score=sem[mid],
                    keyword_score=k_norm,
                    matched_terms=kw[mid][1],
                )
            )
        hits.sort(key=lambda h: (-h.score, h.memory.memory_id))
        return hits[: query.top_k]

    async def _ids(self, flt: str) -> list[str]:
        out: list[str] = []
        skip = 0
        while True:
            res = await self._call(
                "POST",
                f"/indexes/{self._index}/docs/search",
                {"select": "id", "filter": flt, "top": 1000, "skip": skip, "search": "*"},
            )
            batch = [d["id"] for d in (res or {}).get("value", [])]
            out += batch
            if len(batch) < 1000:
                return out
            skip += len(batch)

    async def _delete_ids(self, ids: Iterable[str]) -> int:
        ids = list(ids)
        for i in range(0, len(ids), 1000):
            await self._call(
                "POST",
                f"/indexes/{self._index}/docs/index",
                {"value": [{"@search.action": "delete", "id": x} for x in ids[i : i + 1000]]},
            )
        return len(ids)

    async def delete(self, selector: EraseSelector) -> int:
        await self.ensure_index()
        flt = f"tenant eq {_q(validate_tenant(selector.tenant))}"
        if selector.memory_id:
            flt += f" and id eq {_q(selector.memory_id)}"
        elif selector.source_ticket_id:
            flt += f" and source_ticket_id eq {_q(selector.source_ticket_id)}"
        elif selector.subject_hash:
            flt += f" and subject_hashes/any(s: s eq {_q(selector.subject_hash)})"
        elif not selector.entire_tenant:
            return 0
        return await self._delete_ids(await self._ids(flt))

    async def purge_expired(self, now: float) -> int:
        await self.ensure_index()
        if not math.isfinite(now):
            return 0
        return await self._delete_ids(await self._ids(f"expire_time le {now!r}"))

    async def close(self) -> None:
        await self._client.aclose()


__all__ = ["AzureSearchIndex", "index_schema"]
