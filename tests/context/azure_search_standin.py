"""A small local stand-in for the Azure AI Search REST API (not the real service).

It implements only what the Context Server's adapter uses: create-or-update index, index
documents (mergeOrUpload/delete), lookup by key and search (vector + keyword) with the OData
filter subset the adapter emits. It checks the wire format strictly: the ``api-key`` header,
the ``api-version`` query parameter, JSON shapes, vector dimensions, filterable fields.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

API_KEY = "test-admin-key"
API_VERSION = "2024-07-01"

_CMP = re.compile(r"^(\w+) (eq|gt|le) ('(?:[^']|'')*'|true|false|-?[\d.e+]+)$")
_ANY = re.compile(r"^(\w+)/any\((\w): \2 eq ('(?:[^']|'')*')\)$")


class FilterError(ValueError):
    pass


def _literal(raw: str) -> Any:
    if raw.startswith("'"):
        return raw[1:-1].replace("''", "'")
    if raw in ("true", "false"):
        return raw == "true"
    return float(raw)


def _split(expr: str, word: str) -> list[str]:
    """Split on `` and ``/`` or `` outside quotes and parentheses."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    sep = f" {word} "
    while i < len(expr):
        ch = expr[i]
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and expr.startswith(sep, i):
            parts.append(expr[start:i])
            i += len(sep)
            start = i
            continue
        i += 1
    parts.append(expr[start:])
    return parts


def compile_filter(expr: str, filterable: set[str]) -> Any:
    """A predicate over documents for the OData subset the adapter uses (else FilterError)."""
    clauses = []
    for part in _split(expr.strip(), "and"):
        part = part.strip()
        if part.startswith("(") and part.endswith(")"):
            ors = [compile_filter(p, filterable) for p in _split(part[1:-1], "or")]
            clauses.append(lambda d, ors=ors: any(o(d) for o in ors))
            continue
        m = _ANY.match(part)
        if m:
            fname, value = m.group(1), _literal(m.group(3))
            if fname not in filterable:
                raise FilterError(f"{fname} is not filterable")
            clauses.append(lambda d, f=fname, v=value: v in (d.get(f) or []))
            continue
        m = _CMP.match(part)
        if not m:
            raise FilterError(f"unsupported filter clause: {part}")
        fname, op, value = m.group(1), m.group(2), _literal(m.group(3))
        if fname not in filterable:
            raise FilterError(f"{fname} is not filterable")
        if op == "eq":
            clauses.append(lambda d, f=fname, v=value: d.get(f) == v)
        elif op == "gt":
            clauses.append(lambda d, f=fname, v=value: d.get(f) is not None and d[f] > v)
        else:
            clauses.append(lambda d, f=fname, v=value: d.get(f) is not None and d[f] <= v)
    return lambda d: all(c(d) for c in clauses)


@dataclass
class SearchStandIn:
    """State of the stand-in: the index schema, documents and every request body seen."""

    base_url: str = ""
    schema: dict[str, Any] | None = None
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    searches: list[dict[str, Any]] = field(default_factory=list)
    bad_requests: list[str] = field(default_factory=list)

    def _fields(self) -> dict[str, dict[str, Any]]:
        assert self.schema is not None
        return {f["name"]: f for f in self.schema["fields"]}

    def _error(self, status: int, message: str) -> JSONResponse:
        self.bad_requests.append(message)
        return JSONResponse({"error": {"code": str(status), "message": message}}, status)

    def _check(self, request: Request) -> JSONResponse | None:
        if request.headers.get("api-key") != API_KEY:
            return self._error(403, "bad api-key")
        if request.query_params.get("api-version") != API_VERSION:
            return self._error(400, "missing or wrong api-version")
        if request.method != "GET" and "application/json" not in request.headers.get("content-type", ""):
            return self._error(400, "content-type must be JSON")
        return None

    async def put_index(self, request: Request) -> Response:
        if (bad := self._check(request)) is not None:
            return bad
        body = await request.json()
        name = request.path_params["name"]
        fields = {f["name"]: f for f in body.get("fields", [])}
        keys = [f for f in fields.values() if f.get("key")]
        profiles = {p["name"]: p for p in body.get("vectorSearch", {}).get("profiles", [])}
        algos = {a["name"]: a for a in body.get("vectorSearch", {}).get("algorithms", [])}
        vec = [f for f in fields.values() if f["type"] == "Collection(Edm.Single)"]
        if body.get("name") != name or len(keys) != 1 or not fields.get("tenant", {}).get("filterable"):
            return self._error(400, "index needs a name, one key and a filterable tenant field")
        if len(vec) != 1 or not vec[0].get("dimensions") or vec[0].get("vectorSearchProfile") not in profiles:
            return self._error(400, "vector field needs dimensions and a known profile")
        if algos.get(profiles[vec[0]["vectorSearchProfile"]]["algorithm"], {}).get("kind") != "hnsw":
            return self._error(400, "profile must use an hnsw algorithm")
        created = self.schema is None
        self.schema = body
        return JSONResponse(body, 201 if created else 200)

    async def index_docs(self, request: Request) -> Response:
        if (bad := self._check(request)) is not None:
            return bad
        if self.schema is None:
            return self._error(404, "no such index")
        fields = self._fields()
        key = next(f["name"] for f in fields.values() if f.get("key"))
        results = []
        for doc in (await request.json())["value"]:
            action = doc.get("@search.action")
            if action not in ("upload", "merge", "mergeOrUpload", "delete") or key not in doc:
                return self._error(400, f"bad document action {action!r} or missing key")
            unknown = set(doc) - set(fields) - {"@search.action"}
            if unknown:
                return self._error(400, f"unknown fields {sorted(unknown)}")
            if action == "delete":
                self.docs.pop(doc[key], None)
            else:
                emb = doc.get("embedding")
                if emb is not None and len(emb) != fields["embedding"]["dimensions"]:
                    return self._error(400, "vector has the wrong number of dimensions")
                merged = {**self.docs.get(doc[key], {}), **doc}
                merged.pop("@search.action")
                self.docs[doc[key]] = merged
            results.append({"key": doc[key], "status": True, "statusCode": 200})
        return JSONResponse({"value": results})

    def _visible(self, doc: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
        fields = self._fields()
        out = {k: v for k, v in doc.items() if fields[k].get("retrievable", True)}
        return {k: v for k, v in out.items() if select is None or k in select}

    async def lookup(self, request: Request) -> Response:
        if (bad := self._check(request)) is not None:
            return bad
        doc = self.docs.get(request.path_params["key"])
        if doc is None:
            return JSONResponse({"error": {"message": "not found"}}, 404)
        return JSONResponse(self._visible(doc, None))

    async def search(self, request: Request) -> Response:
        if (bad := self._check(request)) is not None:
            return bad
        if self.schema is None:
            return self._error(404, "no such index")
        body = await request.json()
        self.searches.append(body)
        fields = self._fields()
        filterable = {n for n, f in fields.items() if f.get("filterable")}
        try:
            pred = compile_filter(body["filter"], filterable) if body.get("filter") else (lambda d: True)
        except FilterError as exc:
            return self._error(400, str(exc))
        docs = [d for d in self.docs.values() if pred(d)]
        scored: list[tuple[float, dict[str, Any]]]
        if body.get("vectorQueries"):
            vq = body["vectorQueries"][0]
            if vq.get("kind") != "vector" or vq.get("fields") != "embedding":
                return self._error(400, "bad vector query")
            q = np.asarray(vq["vector"], dtype=np.float64)
            if len(q) != fields["embedding"]["dimensions"]:
                return self._error(400, "query vector has the wrong number of dimensions")
            scored = []
            for d in docs:
                v = np.asarray(d["embedding"], dtype=np.float64)
                cos = float(q @ v / (np.linalg.norm(q) * np.linalg.norm(v)))
                scored.append((1.0 / (1.0 + (1.0 - cos)), d))
            scored = sorted(scored, key=lambda s: -s[0])[: int(vq["k"])]
        elif body.get("search", "*") != "*":
            terms = body["search"].lower().split()
            search_fields = body.get("searchFields", "text").split(",")
            scored = []
            for d in docs:
                words = " ".join(str(d.get(f, "")) for f in search_fields).lower().split()
                s = float(sum(words.count(t) for t in terms))
                if s > 0:
                    scored.append((s, d))
            scored.sort(key=lambda s: -s[0])
        else:
            scored = [(1.0, d) for d in docs]
        skip, top = int(body.get("skip", 0)), int(body.get("top", 50))
        select = body["select"].split(",") if body.get("select") else None
        value = [
            {**self._visible(d, select), "@search.score": s} for s, d in scored[skip : skip + top]
        ]
        return JSONResponse({"value": value})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/indexes/{name}", self.put_index, methods=["PUT"]),
                Route("/indexes/{name}/docs/index", self.index_docs, methods=["POST"]),
                Route("/indexes/{name}/docs/search", self.search, methods=["POST"]),
                Route("/indexes/{name}/docs/{key}", self.lookup, methods=["GET"]),
            ]
        )


@contextlib.asynccontextmanager
async def serve_search_standin() -> AsyncIterator[SearchStandIn]:
    """Run the stand-in in this event loop on 127.0.0.1, port 0."""
    standin = SearchStandIn()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections queue until uvicorn accepts them
    standin.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(standin.app(), log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield standin
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
        sock.close()
