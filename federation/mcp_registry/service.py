"""MCP Registry: server.json-style records, tool discovery, schema drift, per-tenant allow-lists.

- A server registers ``name`` + ``version`` with its tools; the latest registered version is the
  one discovered. Re-registering the same version with a different tool set or tool schema flags
  the version (``schema_drift``, with the tools concerned): clients cached the old schemas under a
  version that promised them; the flag stays until a new version registers.
- A tenant sees only tools whose ``server/tool`` matches one of its allow-list patterns
  (shell-style wildcards); a tenant without an allow-list gets ``default_allow`` (deny-all unless
  configured).
"""

from __future__ import annotations

import asyncio
import enum
import fnmatch
import hashlib
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from federation.errors import InvalidArgument, NotFound
from federation.mcp_registry.search import Embedder, bm25_scores, cosine_scores
from federation.registry.service import Clock

log = logging.getLogger(__name__)


class Transport(enum.Enum):
    STDIO = "stdio"
    STREAMABLE_HTTP = "streamable-http"


class MatchKind(enum.Enum):
    NAME = "NAME"
    CAPABILITY = "CAPABILITY"
    SEMANTIC = "SEMANTIC"
    LEXICAL = "LEXICAL"


@dataclass(frozen=True)
class Tool:
    name: str
    description: str = ""
    input_schema_json: str = "{}"
    output_schema_json: str = ""
    capabilities: tuple[str, ...] = ()
    read_only: bool = False
    destructive: bool = False

    def fingerprint(self) -> str:
        """A hash of the tool's schemas, independent of JSON formatting and key order."""
        canon = json.dumps(
            [_canonical(self.input_schema_json), _canonical(self.output_schema_json)],
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canon.encode()).hexdigest()


@dataclass(frozen=True)
class McpServer:
    name: str
    version: str
    transport: Transport
    tools: tuple[Tool, ...]
    description: str = ""
    url: str = ""
    command: str = ""
    args: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    schema_drift: bool = False
    drifted_tools: tuple[str, ...] = ()
    registered_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True)
class ToolMatch:
    server: McpServer
    tool: Tool
    score: float
    kind: MatchKind

    @property
    def qualified_name(self) -> str:
        return f"{self.server.name}/{self.tool.name}"


@dataclass(frozen=True)
class AllowList:
    patterns: tuple[str, ...]
    is_default: bool


@dataclass
class _Versions:
    by_version: dict[str, McpServer] = field(default_factory=dict)
    latest: str = ""


class McpRegistry:
    """In-memory registry of MCP servers; tool search over the latest version of each."""

    def __init__(
        self,
        *,
        embedder: Embedder | None = None,
        clock: Clock = time.time,
        default_allow: Iterable[str] = (),
    ) -> None:
        self._embedder = embedder
        self._clock = clock
        self._default_allow = tuple(default_allow)
        self._servers: dict[str, _Versions] = {}
        self._allow: dict[str, tuple[str, ...]] = {}
        self._vectors: dict[str, object] = {}  # text → embedding, so each text is embedded once

    # -- servers ----------------------------------------------------------------------------

    async def register(self, server: McpServer) -> McpServer:
        """Store ``server``; flags schema drift when its version was registered with other schemas."""
        _validate(server)
        now = self._clock()
        versions = self._servers.setdefault(server.name, _Versions())
        old = versions.by_version.get(server.version)
        drifted: tuple[str, ...] = ()
        registered_at = now
        if old is not None:
            registered_at = old.registered_at
            drifted = tuple(sorted(set(old.drifted_tools) | _changed_tools(old.tools, server.tools)))
            if drifted and not old.schema_drift:
                log.warning(
                    "MCP server %s %s changed tool schemas without a new version: %s",
                    server.name, server.version, ", ".join(drifted),
                )
        stored = replace(
            server,
            schema_drift=bool(drifted),
            drifted_tools=drifted,
            registered_at=registered_at,
            updated_at=now,
        )
        versions.by_version[server.version] = stored
        versions.latest = server.version
        if self._embedder is not None:
            await self._embed_missing([_doc(t) for t in stored.tools])
        return stored

    async def get(self, name: str, version: str = "") -> McpServer:
        versions = self._servers.get(name)
        found = None
        if versions is not None:
            found = versions.by_version.get(version or versions.latest)
        if found is None:
            raise NotFound(f"no MCP server {name!r} {version}".strip(), reason="MCP_SERVER_NOT_FOUND")
        return found

    async def list_servers(self) -> list[McpServer]:
        return [v.by_version[v.latest] for _, v in sorted(self._servers.items())]

    # -- allow-lists ------------------------------------------------------------------------

    async def set_allow_list(self, tenant: str, patterns: Iterable[str]) -> AllowList:
        cleaned = tuple(dict.fromkeys(p.strip() for p in patterns))
        if any(not p for p in cleaned):
            raise InvalidArgument("allow-list patterns must not be empty", reason="BAD_PATTERN")
        self._allow[tenant] = cleaned
        return AllowList(cleaned, False)

    async def allow_list(self, tenant: str) -> AllowList:
        if tenant in self._allow:
            return AllowList(self._allow[tenant], False)
        return AllowList(self._default_allow, True)

    # -- discovery --------------------------------------------------------------------------

    async def find_tools(
        self,
        tenant: str,
        *,
        name: str = "",
        capability: str = "",
        query: str = "",
        limit: int = 10,
    ) -> list[ToolMatch]:
        """Tools the tenant may use, by exact name, by capability, or by semantic query."""
        if sum(bool(x) for x in (name, capability, query)) != 1:
            raise InvalidArgument(
                "set exactly one of name, capability or semantic_query", reason="BAD_TOOL_QUERY"
            )
        visible = self._visible(tenant)
        if name:
            hits = [
                ToolMatch(s, t, 1.0, MatchKind.NAME)
                for s, t in visible
                if t.name == name or f"{s.name}/{t.name}" == name
            ]
        elif capability:
            hits = [
                ToolMatch(s, t, 1.0, MatchKind.CAPABILITY)
                for s, t in visible
                if capability in t.capabilities or capability in s.capabilities
            ]
        else:
            hits = await self._search(visible, query)
        return hits[:limit]

    def _visible(self, tenant: str) -> list[tuple[McpServer, Tool]]:
        patterns = self._allow.get(tenant, self._default_allow)
        out = []
        for server in [v.by_version[v.latest] for _, v in sorted(self._servers.items())]:
            for tool in server.tools:
                qualified = f"{server.name}/{tool.name}"
                if any(fnmatch.fnmatchcase(qualified, p) for p in patterns):
                    out.append((server, tool))
        return out

    async def _search(self, visible: list[tuple[McpServer, Tool]], query: str) -> list[ToolMatch]:
        docs = [_doc(t) for _, t in visible]
        if not docs:
            return []
        if self._embedder is not None:
            await self._embed_missing([*docs, query])
            scores = cosine_scores(self._vectors[query], [self._vectors[d] for d in docs])
            kind = MatchKind.SEMANTIC
            ranked = sorted(zip(scores, range(len(docs)), strict=True), key=lambda x: -x[0])
        else:
            scores = bm25_scores(query, docs)
            kind = MatchKind.LEXICAL
            ranked = sorted(
                ((s, i) for s, i in zip(scores, range(len(docs)), strict=True) if s > 0),
                key=lambda x: -x[0],
            )
        return [ToolMatch(visible[i][0], visible[i][1], s, kind) for s, i in ranked]

    async def _embed_missing(self, texts: list[str]) -> None:
        assert self._embedder is not None
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if not missing:
            return
        vectors = await asyncio.to_thread(self._embedder.embed, missing)
        for text, vec in zip(missing, vectors, strict=True):
            self._vectors[text] = vec


def _doc(tool: Tool) -> str:
    return f"{tool.name.replace('_', ' ')}: {tool.description}"


def _canonical(schema_json: str) -> object:
    return json.loads(schema_json) if schema_json.strip() else None


def _changed_tools(old: Iterable[Tool], new: Iterable[Tool]) -> set[str]:
    a = {t.name: t.fingerprint() for t in old}
    b = {t.name: t.fingerprint() for t in new}
    return {n for n in a.keys() | b.keys() if a.get(n) != b.get(n)}


def _validate(server: McpServer) -> None:
    if not server.name or not server.version:
        raise InvalidArgument("server name and version are required", reason="BAD_MCP_SERVER")
    if server.transport is Transport.STDIO and not server.command:
        raise InvalidArgument("a stdio server needs a command", reason="BAD_MCP_SERVER")
    if server.transport is Transport.STREAMABLE_HTTP and not server.url:
        raise InvalidArgument("a streamable-http server needs a url", reason="BAD_MCP_SERVER")
    names = [t.name for t in server.tools]
    if len(names) != len(set(names)) or not all(names):
        raise InvalidArgument("tool names must be present and unique", reason="BAD_MCP_SERVER")
    for tool in server.tools:
        for text in (tool.input_schema_json, tool.output_schema_json):
            try:
                schema = _canonical(text)
            except json.JSONDecodeError:
                raise InvalidArgument(
                    f"tool {tool.name!r} has a schema that is not JSON", reason="BAD_TOOL_SCHEMA"
                ) from None
            if schema is not None and not isinstance(schema, dict):
                raise InvalidArgument(
                    f"tool {tool.name!r} schema must be a JSON object", reason="BAD_TOOL_SCHEMA"
                )
