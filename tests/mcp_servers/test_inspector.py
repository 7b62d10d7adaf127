"""The MCP Inspector CLI (npm @modelcontextprotocol/inspector, CLI mode) lists and calls the
tools over stdio and over streamable HTTP.

Inspector 0.15 (what npm installs on Node 20) cannot send an Authorization header, so over HTTP
it talks to a small local stand-in for the gateway's auth sidecar that adds the bearer token
and forwards to the mesh unchanged; the mesh's own endpoint still requires the token.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest
import uvicorn
from starlette.requests import Request
from starlette.responses import Response

from tests.mcp_servers.conftest import Rig
from tests.mcp_servers.test_inprocess import SHADOW_TOOLS, TRIAGE_TOOLS

REPO = Path(__file__).resolve().parents[2]
INSPECTOR = REPO / "node_modules" / ".bin" / "mcp-inspector"

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(
        not INSPECTOR.exists(),
        reason="MCP Inspector is not installed: run `npm install --no-audit --no-fund` in the repo",
    ),
]


async def inspector(*args: str, timeout_s: float = 60.0) -> tuple[int, Any]:
    proc = await asyncio.create_subprocess_exec(
        str(INSPECTOR),
        "--cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=str(REPO),
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    assert proc.returncode == 0, err.decode()[-2000:]
    return proc.returncode, json.loads(out)


def stdio_target(rig: Rig) -> list[str]:
    return [
        "-e",
        f"OMEGA_GRPC_ADDR={rig.mesh.grpc_target}",
        "-e",
        f"OMEGA_DATA_DIR={rig.mesh.settings.data_dir}",
        "-e",
        "OMEGA_MCP_TECHNICIAN=alice",
        sys.executable,
        "-m",
        "mcp_servers.cli",
    ]


@pytest.mark.timeout(120)
async def test_inspector_lists_and_calls_tools_over_stdio(rig: Rig) -> None:
    _, listed = await inspector(*stdio_target(rig), "triage", "--method", "tools/list")
    assert {t["name"] for t in listed["tools"]} == TRIAGE_TOOLS
    assert all(t["annotations"]["readOnlyHint"] for t in listed["tools"])
    _, called = await inspector(
        *stdio_target(rig),
        "triage",
        "--method",
        "tools/call",
        "--tool-name",
        "get_ticket",
        "--tool-arg",
        f"ticket_id={rig.printer_id}",
    )
    assert not called.get("isError") and called["structuredContent"]["id"] == rig.printer_id
    _, called = await inspector(
        *stdio_target(rig),
        "triage",
        "--method",
        "tools/call",
        "--tool-name",
        "get_ticket",
        "--tool-arg",
        f"ticket_id={rig.other_id}",
    )
    assert called["isError"] is True and "NOT_FOUND" in called["content"][0]["text"]


class AuthSidecar:
    """Adds ``Authorization: Bearer <token>`` and forwards to the mesh (a gateway stand-in)."""

    def __init__(self, upstream: str, token: str) -> None:
        self.upstream, self.token = upstream, token
        self.http = httpx2.AsyncClient(timeout=30.0)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        headers = {k: v for k, v in request.headers.items() if k not in ("host", "content-length")}
        headers["authorization"] = f"Bearer {self.token}"
        upstream = await self.http.request(
            request.method,
            f"{self.upstream}{request.url.path}",
            headers=headers,
            content=await request.body(),
        )
        drop = {"content-length", "transfer-encoding", "content-encoding", "connection"}
        response = Response(
            upstream.content,
            upstream.status_code,
            {k: v for k, v in upstream.headers.items() if k.lower() not in drop},
        )
        await response(scope, receive, send)


@pytest.mark.timeout(120)
async def test_inspector_lists_and_calls_tools_over_http(rig: Rig) -> None:
    sidecar = AuthSidecar(rig.http_base, rig.tokens.alice)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    server = uvicorn.Server(uvicorn.Config(sidecar, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    try:
        # the socket already listens: connections wait in its backlog until uvicorn serves
        _, listed = await inspector(url, "--transport", "http", "--method", "tools/list")
        assert {t["name"] for t in listed["tools"]} == TRIAGE_TOOLS | SHADOW_TOOLS
        _, called = await inspector(
            url,
            "--transport",
            "http",
            "--method",
            "tools/call",
            "--tool-name",
            "triage_ticket",
            "--tool-arg",
            "text=the printer jams",
        )
        assert not called.get("isError")
        assert called["structuredContent"]["triage"]["category"]["label"] == "Printing"
        _, called = await inspector(
            url,
            "--transport",
            "http",
            "--method",
            "tools/call",
            "--tool-name",
            "get_ticket",
            "--tool-arg",
            f"ticket_id={rig.other_id}",
        )
        assert called["isError"] is True and "NOT_FOUND" in called["content"][0]["text"]
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
        await sidecar.http.aclose()
