"""Start the HTTP side of a deployable (webhooks, /healthz, /mcp, dashboard) on a bound socket."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute


def split_addr(addr: str) -> tuple[str, int]:
    """``host:port`` (IPv6 in brackets allowed) → (host, port); an empty host is 127.0.0.1."""
    host, _, port = addr.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


class AddressInUse(OSError):
    """A listen address of the mesh cannot be bound; the message names the setting to change."""


async def start_http(
    addr: str, routes: Sequence[BaseRoute]
) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    """Serve ``routes`` on ``addr`` (port 0 picks one); returns the server, its task and the
    bound port, once the server has started (or raises what stopped it)."""
    host, port = split_addr(addr)
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets it knows are TCP, and
    # without it every HTTP answer waits ~40 ms for a delayed ACK.
    sock = socket.socket(
        socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
    )
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise AddressInUse(
            f"cannot listen for HTTP on {host}:{port} ({exc.strerror}); choose a free address"
            " (OMEGA_HTTP_ADDR)"
        ) from exc
    sock.listen(512)
    sock.setblocking(False)
    bound = int(sock.getsockname()[1])
    config = uvicorn.Config(Starlette(routes=list(routes)), log_config=None, access_log=False,
                            lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(200):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    return server, task, bound
