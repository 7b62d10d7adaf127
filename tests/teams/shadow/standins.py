"""Small local HTTP stand-ins of the three PSA write APIs (NOT the vendors' servers).

They check the wire format our adapters send (method, path, auth headers, body shape) and can
fail the first N calls with 503 to exercise retries. Served by uvicorn on 127.0.0.1, port 0.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class PsaStandIn:
    fail_first: int = 0
    seen: list[Seen] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _record(self, request: Request) -> Seen | JSONResponse:
        body = json.loads(await request.body() or b"null")
        seen = Seen(request.method, request.url.path, {k.lower(): v for k, v in request.headers.items()}, body)
        self.seen.append(seen)
        if self.fail_first > 0:
            self.fail_first -= 1
            return JSONResponse({"errors": ["try again"]}, status_code=503)
        self.keys.add(seen.headers.get("idempotency-key", ""))
        return seen

    async def autotask(self, request: Request) -> JSONResponse:
        seen = await self._record(request)
        if isinstance(seen, JSONResponse):
            return seen
        if not (seen.headers.get("apiintegrationcode") and seen.headers.get("username") and seen.headers.get("secret")):
            return JSONResponse({"errors": ["missing credentials"]}, status_code=401)
        if not isinstance(seen.body, dict) or "id" not in seen.body:
            return JSONResponse({"errors": ["id is required"]}, status_code=400)
        return JSONResponse({"itemId": seen.body["id"]})

    async def connectwise(self, request: Request) -> JSONResponse:
        seen = await self._record(request)
        if isinstance(seen, JSONResponse):
            return seen
        if not seen.headers.get("authorization", "").startswith("Basic ") or not seen.headers.get("clientid"):
            return JSONResponse({"code": "Unauthorized"}, status_code=401)
        ops = seen.body
        if not isinstance(ops, list) or not all({"op", "path", "value"} <= set(o) for o in ops):
            return JSONResponse({"code": "InvalidObject"}, status_code=400)
        return JSONResponse({"id": int(request.path_params["id"])})

    async def kaseya(self, request: Request) -> JSONResponse:
        seen = await self._record(request)
        if isinstance(seen, JSONResponse):
            return seen
        if not seen.headers.get("authorization", "").startswith("Bearer "):
            return JSONResponse({"Success": False, "Error": {"Code": "401"}}, status_code=401)
        return JSONResponse({"Success": True, "Result": {"Id": int(request.path_params["id"])}})

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/atservicesrest/v1.0/Tickets", self.autotask, methods=["PATCH"]),
            Route("/v4_6_release/apis/3.0/service/tickets/{id:int}", self.connectwise, methods=["PATCH"]),
            Route("/v2/servicedesk/tickets/{id:int}", self.kaseya, methods=["PUT"]),
        ])


@asynccontextmanager
async def serve_standin(standin: PsaStandIn) -> AsyncIterator[PsaStandIn]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.setblocking(False)
    standin.port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(standin.app(), log_config=None, access_log=False, lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
    try:
        yield standin
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
