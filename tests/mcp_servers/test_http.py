"""Streamable HTTP against a running embedded mesh with the real local Titan (one per module).

Also: bearer tokens and tenant scoping, OAuth protected-resource metadata, the Host check, and
two replicas sharing nothing behind a round-robin "load balancer" (one client alternating).
"""

from __future__ import annotations

import asyncio
import socket
import tomllib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import pytest_asyncio
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from mcp_servers.deps import McpDeps, fixed_caller
from mcp_servers.http import McpHttpApp
from mcp_servers.servers import HTTP_ENDPOINTS
from mcp_servers.settings import McpSettings
from mcp_servers.tokens import TokenDirectory
from tests.mcp_servers.conftest import Rig, start_rig, stop_rig
from tests.mcp_servers.test_inprocess import (
    SHADOW_TOOLS,
    TRIAGE_TOOLS,
    check_tool_contract,
    error_code,
)

pytestmark = [pytest.mark.timeout(180)]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    """The embedded mesh with the real LocalTriage (trains the demo model on first start)."""
    rig = await start_rig(tmp_path_factory.mktemp("mcp-http"), None)
    try:
        yield rig
    finally:
        await stop_rig(rig)


def connect(url: str, token: str | None, **kw: Any) -> tuple[httpx2.AsyncClient, Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = httpx2.AsyncClient(headers=headers, timeout=30.0, **kw)
    return http, Client(streamable_http_client(url, http_client=http))


@pytest.mark.asyncio(loop_scope="module")
async def test_http_lists_and_calls_every_tool_with_the_real_titan(live: Rig) -> None:
    http, client = connect(f"{live.http_base}/mcp", live.tokens.alice)
    async with http, client as c:
        tools = (await c.list_tools()).tools
        assert {t.name for t in tools} == TRIAGE_TOOLS | SHADOW_TOOLS
        check_tool_contract(tools)

        r = await c.call_tool(
            "triage_ticket",
            {
                "title": "Cannot log in",
                "text": "My account is locked out after too many password attempts, please unlock it",
            },
        )
        assert not r.is_error, r.content
        tri = r.structured_content["triage"]
        assert tri["category"]["label"] and 0.0 < tri["confidence"] <= 1.0
        assert tri["reasons"] and tri["decided_by"] == "local" and tri["model_version"]

        calls: dict[str, dict[str, Any]] = {
            "get_ticket": {"ticket_id": live.printer_id},
            "search_tickets": {"query": "printer"},
            "find_similar": {"text": "printer paper jam"},
            "explain_triage": {"ticket_id": live.printer_id},
            "my_queue": {},
            "propose_action": {"ticket_id": live.mail_id, "action": "resolve", "note": "done"},
        }
        for name, args in calls.items():
            r = await c.call_tool(name, args)
            assert not r.is_error, (name, r.content)
            assert r.structured_content, name
        # draft_reply: the agent's draft when the ticket is alice's (or unassigned), else refused
        ticket = await live.client.get_ticket(live.printer_id, tenant="default")
        r = await c.call_tool("draft_reply", {"ticket_id": live.printer_id})
        if ticket.triage.technician.label in ("", "alice"):
            assert not r.is_error and r.structured_content["ticket_id"] == live.printer_id
        else:
            assert error_code(r) == "PERMISSION_DENIED"
        found = await c.call_tool("search_tickets", {"query": "printer"})
        assert [t["id"] for t in found.structured_content["tickets"]] == [live.printer_id]
        # the two writes reject what they must before touching OMEGA
        r = await c.call_tool("confirm_action", {"confirmation_token": "x" * 20})
        assert error_code(r) == "INVALID_ARGUMENT"
        assert (await c.call_tool("correct_triage", {"ticket_id": live.mail_id})).is_error


@pytest.mark.asyncio(loop_scope="module")
async def test_http_scopes_every_call_to_the_tokens_tenant(live: Rig) -> None:
    http, client = connect(f"{live.http_base}/mcp/triage", live.tokens.bob)
    async with http, client as c:
        assert {t.name for t in (await c.list_tools()).tools} == TRIAGE_TOOLS
        r = await c.call_tool("get_ticket", {"ticket_id": live.other_id})
        assert not r.is_error and r.structured_content["id"] == live.other_id
        r = await c.call_tool("get_ticket", {"ticket_id": live.printer_id})
        assert error_code(r) == "NOT_FOUND"  # tenant "default"'s ticket is invisible to bob
        r = await c.call_tool("get_ticket", {"ticket_id": "tkt_unknown"})
        assert error_code(r) == "NOT_FOUND"
        r = await c.call_tool("search_tickets", {})
        assert [t["id"] for t in r.structured_content["tickets"]] == [live.other_id]


@pytest.mark.asyncio(loop_scope="module")
async def test_http_refuses_missing_and_bad_tokens(live: Rig) -> None:
    for token in (None, "not-a-real-token"):
        async with httpx2.AsyncClient() as http:
            headers = {"Accept": "application/json, text/event-stream"}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            resp = await http.post(
                f"{live.http_base}/mcp",
                headers=headers,
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            )
            assert resp.status_code == 401
            challenge = resp.headers["www-authenticate"]
            assert (
                'resource_metadata="' in challenge
                and "/.well-known/oauth-protected-resource/mcp" in challenge
            )
        http, client = connect(f"{live.http_base}/mcp", token)
        with pytest.raises(Exception):  # noqa: B017 - the SDK surfaces the 401 as an exception
            async with http, client as c:
                await c.list_tools()


@pytest.mark.asyncio(loop_scope="module")
async def test_protected_resource_metadata(live: Rig) -> None:
    async with httpx2.AsyncClient() as http:
        for path, resource in (("", "/mcp"), ("/mcp", "/mcp"), ("/mcp/shadow", "/mcp/shadow")):
            resp = await http.get(f"{live.http_base}/.well-known/oauth-protected-resource{path}")
            assert resp.status_code == 200
            meta = resp.json()
            assert meta["resource"].endswith(resource)
            assert meta["authorization_servers"] and meta["bearer_methods_supported"] == ["header"]
            assert meta["scopes_supported"] == ["omega.mcp"]


@pytest.mark.asyncio(loop_scope="module")
async def test_foreign_host_header_is_refused(live: Rig) -> None:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {live.tokens.alice}"}) as http:
        resp = await http.post(
            f"{live.http_base}/mcp",
            headers={"Host": "evil.example", "Accept": "application/json, text/event-stream"},
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        )
        assert resp.status_code in (400, 421)


class RoundRobin(httpx2.AsyncBaseTransport):
    """A tiny load balancer: each request goes to the next replica's port."""

    def __init__(self, ports: list[int]) -> None:
        self._ports = ports
        self._next = 0
        self.sent: Counter[int] = Counter()
        self._inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = self._ports[self._next % len(self._ports)]
        self._next += 1
        self.sent[port] += 1
        request.url = request.url.copy_with(port=port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def serve_replica(live: Rig) -> tuple[uvicorn.Server, asyncio.Task[None], McpHttpApp, int]:
    """One more MCP replica: its own app, session managers and port; only the tokens file and
    OMEGA's gRPC address in common with the mesh (as two pods would have)."""
    import grpc

    data_dir = live.mesh.settings.data_dir
    tokens = TokenDirectory.load(data_dir / "mcp_tokens.toml")
    channel = grpc.aio.insecure_channel(live.mesh.grpc_target)
    deps = McpDeps(
        channel, live.mesh.grpc_target, fixed_caller("default", "nobody"), tokens.signing_key
    )
    app = McpHttpApp(HTTP_ENDPOINTS, deps, tokens, McpSettings(), "http://127.0.0.1:8080")
    await app.start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.setblocking(False)
    server = uvicorn.Server(uvicorn.Config(app.asgi(), log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    # the socket already listens: connections wait in its backlog until uvicorn serves
    live.channels.append(channel)
    return server, task, app, sock.getsockname()[1]


@pytest.mark.asyncio(loop_scope="module")
async def test_two_replicas_sharing_nothing_serve_one_client_alternately(live: Rig) -> None:
    replicas = [await serve_replica(live), await serve_replica(live)]
    balancer = RoundRobin([r[3] for r in replicas])
    try:
        http = httpx2.AsyncClient(
            transport=balancer,
            headers={"Authorization": f"Bearer {live.tokens.alice}"},
            timeout=30.0,
        )
        url = f"http://127.0.0.1:{replicas[0][3]}/mcp"
        async with http, Client(streamable_http_client(url, http_client=http)) as c:
            assert {t.name for t in (await c.list_tools()).tools} == TRIAGE_TOOLS | SHADOW_TOOLS
            for _ in range(3):
                r = await c.call_tool("get_ticket", {"ticket_id": live.printer_id})
                assert not r.is_error, r.content
            # a token issued by one replica is honoured by the other (shared signing key)
            r = await c.call_tool(
                "propose_action", {"ticket_id": live.mail_id, "action": "resolve"}
            )
            assert not r.is_error
            r = await c.call_tool("confirm_action", {"confirmation_token": "x" * 20})
            assert error_code(r) == "INVALID_ARGUMENT"
        assert all(balancer.sent[r[3]] >= 3 for r in replicas), balancer.sent
    finally:
        for server, task, app, _ in replicas:
            server.should_exit = True
            await asyncio.gather(task, return_exceptions=True)
            await app.stop()


def test_tokens_file_is_generated_with_a_token_for_the_default_tenant(tmp_path: Path) -> None:
    from mcp_servers.tokens import write_default_tokens_file

    path = tmp_path / "mcp_tokens.toml"
    assert write_default_tokens_file(path, "default")
    assert not write_default_tokens_file(path, "default")
    data = tomllib.loads(path.read_text())
    assert data["tokens"]["local"]["tenant"] == "default" and len(data["signing_key"]) >= 32
    assert path.stat().st_mode & 0o077 == 0
    caller = TokenDirectory.load(path).caller_for(data["tokens"]["local"]["token"])
    assert caller is not None and caller[1].tenant == "default"
    assert TokenDirectory.load(path).caller_for("wrong") is None
