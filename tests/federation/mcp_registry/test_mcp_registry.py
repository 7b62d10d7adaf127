"""MCP Registry: registration, discovery by name/capability/semantic text, allow-lists, drift."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import numpy as np
import pytest
from omega.mcpregistry.v1 import mcp_registry_pb2 as pb
from omega.mcpregistry.v1 import mcp_registry_pb2_grpc

from federation.errors import InvalidArgument
from federation.mcp_registry.search import bm25_scores, tokenize
from federation.mcp_registry.server import McpRegistryDeps, create_server
from federation.mcp_registry.service import MatchKind, McpRegistry, McpServer, Tool, Transport
from mesh.settings import OmegaSettings

WAIT_S = 5.0
TICKET_ID_SCHEMA = json.dumps(
    {"type": "object", "properties": {"ticket_id": {"type": "string"}}, "required": ["ticket_id"]}
)


def triage_server(version: str = "1.0.0", schema: str = TICKET_ID_SCHEMA) -> McpServer:
    return McpServer(
        name="io.omega/triage",
        version=version,
        transport=Transport.STREAMABLE_HTTP,
        url="http://127.0.0.1:8080/mcp",
        capabilities=("triage",),
        tools=(
            Tool("triage_ticket", "Classify a ticket's category and priority with reasons", schema),
            Tool("confirm_proposal", "Confirm a proposed resolution so it is written back to the PSA",
                 TICKET_ID_SCHEMA, destructive=True),
        ),
    )


def admin_server() -> McpServer:
    return McpServer(
        name="io.acme/identity",
        version="2.1.0",
        transport=Transport.STDIO,
        command="acme-identity-mcp",
        tools=(
            Tool("reset_user_password", "Reset an Active Directory user's password and unlock the account",
                 '{"type": "object"}', capabilities=("identity",)),
            Tool("list_mailboxes", "List the Exchange mailboxes of a customer", '{"type":"object"}',
                 capabilities=("email", "identity"), read_only=True),
        ),
    )


@pytest.fixture
async def registry() -> McpRegistry:
    reg = McpRegistry(embedder=None, default_allow=("*",))
    await reg.register(triage_server())
    await reg.register(admin_server())
    return reg


async def test_find_tools_by_name_and_capability(registry: McpRegistry) -> None:
    hits = await registry.find_tools("acme", name="reset_user_password")
    assert [(h.qualified_name, h.kind) for h in hits] == [
        ("io.acme/identity/reset_user_password", MatchKind.NAME)
    ]
    assert [h.tool.name for h in await registry.find_tools("acme", name="io.omega/triage/triage_ticket")] == ["triage_ticket"]
    by_cap = await registry.find_tools("acme", capability="identity")
    assert sorted(h.tool.name for h in by_cap) == ["list_mailboxes", "reset_user_password"]
    server_level = await registry.find_tools("acme", capability="triage")
    assert sorted(h.tool.name for h in server_level) == ["confirm_proposal", "triage_ticket"]
    with pytest.raises(InvalidArgument):
        await registry.find_tools("acme", name="x", capability="y")


async def test_semantic_search_without_an_embedder_ranks_lexically(registry: McpRegistry) -> None:
    hits = await registry.find_tools("acme", query="user forgot password, account locked")
    assert hits[0].tool.name == "reset_user_password" and hits[0].kind is MatchKind.LEXICAL
    hits = await registry.find_tools("acme", query="which mailboxes does the customer have")
    assert hits[0].tool.name == "list_mailboxes"
    assert await registry.find_tools("acme", query="kubernetes") == []


class BagOfWordsEmbedder:
    """A tiny deterministic embedder (hashed bag of words), so the vector path runs without MiniLM."""

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for i, text in enumerate(texts):
            for tok in tokenize(text):
                out[i, sum(map(ord, tok)) % 64] += 1.0
        return out


async def test_semantic_search_with_an_embedder_uses_cosine_and_caches_vectors() -> None:
    embedder = BagOfWordsEmbedder()
    reg = McpRegistry(embedder=embedder, default_allow=("*",))
    await reg.register(triage_server())
    await reg.register(admin_server())
    calls = embedder.calls
    hits = await reg.find_tools("acme", query="reset password")
    assert hits[0].tool.name == "reset_user_password" and hits[0].kind is MatchKind.SEMANTIC
    assert hits[0].score > hits[-1].score
    await reg.find_tools("acme", query="reset password")
    assert embedder.calls == calls + 1  # the query was embedded once; tool texts at registration


async def test_real_minilm_embedder_when_present() -> None:
    embedding = pytest.importorskip("titans.local.embedding", reason="local MiniLM embedder not present")
    reg = McpRegistry(embedder=embedding.MiniLMEmbedder.load(), default_allow=("*",))
    await reg.register(triage_server())
    await reg.register(admin_server())
    hits = await reg.find_tools("acme", query="a staff member cannot log in, they forgot their credentials")
    assert hits[0].tool.name == "reset_user_password"


async def test_tenants_only_see_allowed_tools() -> None:
    reg = McpRegistry(embedder=None)  # default: deny all
    await reg.register(triage_server())
    await reg.register(admin_server())
    assert await reg.find_tools("acme", capability="identity") == []
    assert (await reg.allow_list("acme")).is_default
    await reg.set_allow_list("acme", ["io.omega/triage/*", "io.acme/identity/list_*"])
    await reg.set_allow_list("globex", ["io.omega/triage/triage_ticket"])
    every = ["triage_ticket", "confirm_proposal", "reset_user_password", "list_mailboxes"]
    acme = [h for n in every for h in await reg.find_tools("acme", name=n)]
    assert sorted(h.qualified_name for h in acme) == [
        "io.acme/identity/list_mailboxes",
        "io.omega/triage/confirm_proposal",
        "io.omega/triage/triage_ticket",
    ]
    assert await reg.find_tools("globex", name="reset_user_password") == []
    assert await reg.find_tools("acme", query="reset password unlock account") == []
    assert [h.tool.name for h in await reg.find_tools("globex", capability="triage")] == ["triage_ticket"]


async def test_changed_schema_under_the_same_version_is_flagged() -> None:
    reg = McpRegistry(embedder=None, default_allow=("*",))
    first = await reg.register(triage_server())
    assert not first.schema_drift
    # Same schema with different formatting and key order: not drift.
    reformatted = json.dumps(json.loads(TICKET_ID_SCHEMA), indent=2, sort_keys=True)
    assert not (await reg.register(triage_server(schema=reformatted))).schema_drift
    changed = json.dumps({"type": "object", "properties": {"ticket_id": {"type": "integer"}}})
    drifted = await reg.register(triage_server(schema=changed))
    assert drifted.schema_drift and drifted.drifted_tools == ("triage_ticket",)
    assert (await reg.find_tools("acme", name="triage_ticket"))[0].server.schema_drift
    bumped = await reg.register(triage_server(version="1.1.0", schema=changed))
    assert not bumped.schema_drift  # a new version may change schemas
    assert (await reg.get("io.omega/triage", "1.0.0")).schema_drift  # the old version stays flagged


def test_bm25_scores_rank_the_matching_document_first() -> None:
    scores = bm25_scores("reset password", ["list mailboxes", "reset a user's password", "password policy"])
    assert scores.index(max(scores)) == 1 and scores[0] == 0.0


async def test_mcp_registry_over_grpc(tmp_path: Path) -> None:
    reg = McpRegistry(embedder=None)
    srv = create_server(OmegaSettings(grpc_addr="127.0.0.1:0", data_dir=tmp_path), McpRegistryDeps(reg))
    await srv.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{srv.port}") as ch:
            stub = mcp_registry_pb2_grpc.McpRegistryServiceStub(ch)
            tool = pb.Tool(name="triage_ticket", description="Classify a ticket",
                           input_schema_json=TICKET_ID_SCHEMA, capabilities=["triage"])
            server = pb.McpServer(name="io.omega/triage", version="1.0.0",
                                  transport=pb.TRANSPORT_STREAMABLE_HTTP,
                                  url="http://127.0.0.1:8080/mcp", tools=[tool])
            res = await stub.RegisterServer(pb.RegisterServerRequest(server=server), timeout=WAIT_S)
            assert not res.server.schema_drift
            meta = (("x-omega-tenant", "acme"),)
            found = await stub.FindTools(pb.FindToolsRequest(capability="triage"), metadata=meta, timeout=WAIT_S)
            assert list(found.matches) == []  # deny by default
            await stub.SetToolAllowList(pb.SetToolAllowListRequest(patterns=["io.omega/*"]),
                                        metadata=meta, timeout=WAIT_S)
            found = await stub.FindTools(pb.FindToolsRequest(semantic_query="classify ticket"),
                                         metadata=meta, timeout=WAIT_S)
            assert [m.tool.name for m in found.matches] == ["triage_ticket"]
            assert found.matches[0].match_kind == pb.MATCH_KIND_LEXICAL
            other = await stub.FindTools(pb.FindToolsRequest(tenant="globex", name="triage_ticket"),
                                         metadata=meta, timeout=WAIT_S)
            assert list(other.matches) == []
            server.tools[0].input_schema_json = '{"type": "object"}'
            res = await stub.RegisterServer(pb.RegisterServerRequest(server=server), timeout=WAIT_S)
            assert res.server.schema_drift and list(res.server.drifted_tools) == ["triage_ticket"]
            for bad in (
                pb.McpServer(name="x", version="1", transport=pb.TRANSPORT_STDIO),  # no command
                pb.McpServer(name="x", version="1", transport=pb.TRANSPORT_UNSPECIFIED),
                pb.McpServer(name="x", version="1", transport=pb.TRANSPORT_STDIO, command="x",
                             tools=[pb.Tool(name="t", input_schema_json="{not json")]),
            ):
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await stub.RegisterServer(pb.RegisterServerRequest(server=bad), timeout=WAIT_S)
                assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.GetServer(pb.GetServerRequest(name="io.nope/x"), timeout=WAIT_S)
            assert err.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        await srv.stop(0.2)
