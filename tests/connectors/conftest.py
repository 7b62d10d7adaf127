"""Fixtures for the connector tests: reference and demo payloads, a ConnectWise key stand-in.

ConnectWise has no local server, so the signing-key fetch is tested over a real socket against
``KeyServer``: a tiny HTTP server standing in for the callback-key endpoint (plain HTTP on
127.0.0.1, port 0; tests pass ``schemes=("http",)`` because production allows https only). It
records each request's target and headers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PSA_DIR = REPO.parent / "shared" / "reference" / "psa"
DEMO_DIR = REPO / "demo" / "payloads"


@pytest.fixture
def psa_raw() -> Callable[[str], bytes]:
    """Read one reference example's bytes (skips when ../shared/reference/psa is absent)."""
    if not PSA_DIR.is_dir():
        pytest.skip(f"PSA reference payloads not found at {PSA_DIR} (../shared/reference/psa)")

    def read(name: str) -> bytes:
        return (PSA_DIR / name).read_bytes()

    return read


@pytest.fixture
def demo_raw() -> Callable[[str], bytes]:
    """Read one demo payload's bytes."""

    def read(name: str) -> bytes:
        return (DEMO_DIR / name).read_bytes()

    return read


@dataclass
class KeyServer:
    """Answers ``routes[path] = (status, body)``; 404 for anything else."""

    routes: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    port: int = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"http://{self.host}{path}"

    def serve_key(self, path: str, key: str) -> None:
        self.routes[path] = (200, json.dumps({"signing_key": key}).encode())

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            lines = head.decode("latin-1").split("\r\n")
            _method, target, _version = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            self.requests.append((target, headers))
            status, body = self.routes.get(target, (404, b'{"error":"not found"}'))
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        finally:
            writer.close()


@asynccontextmanager
async def key_server() -> AsyncIterator[KeyServer]:
    """Start a ``KeyServer`` on 127.0.0.1 port 0; stop it on exit."""
    state = KeyServer()
    server = await asyncio.start_server(state._handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def cw_key_server() -> AsyncIterator[KeyServer]:
    """A running ``KeyServer`` for one test."""
    async with key_server() as server:
        yield server
