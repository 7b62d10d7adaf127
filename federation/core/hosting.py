"""A started-or-not gRPC server with its bound port, health switch and lifecycle hooks.

Used by the federation services' ``create_server``; small enough to move into
``federation.serving`` if other services want it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc

from federation.serving import ServingStatus

log = logging.getLogger(__name__)


@dataclass
class ServiceServer:
    """A bound server: ``await start()``, ``await stop()``, or ``await serve_forever()``."""

    server: grpc.aio.Server
    port: int
    health: ServingStatus
    on_start: Callable[[], None] | None = None
    on_stop: Callable[[], Awaitable[None]] | None = None

    async def start(self) -> None:
        await self.server.start()
        if self.on_start is not None:
            self.on_start()
        await self.health.set(True)

    async def stop(self, grace_s: float = 5.0) -> None:
        """Health NOT_SERVING, stop background work, then stop the server within ``grace_s``."""
        await self.health.set(False)
        if self.on_stop is not None:
            await self.on_stop()
        await self.server.stop(grace_s)

    async def serve_forever(self, grace_s: float = 5.0) -> None:
        """Start, then run until SIGTERM/SIGINT, then stop gracefully."""
        await self.start()
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        log.info("serving on port %s", self.port)
        await stop.wait()
        await self.stop(grace_s)


def bind_and_wrap(
    server: grpc.aio.Server,
    health: ServingStatus,
    address: str,
    *,
    on_start: Callable[[], None] | None = None,
    on_stop: Callable[[], Awaitable[None]] | None = None,
) -> ServiceServer:
    """Bind ``server`` (insecure; Istio adds mTLS in production) and wrap it."""
    port = server.add_insecure_port(address)
    if port == 0:
        raise RuntimeError(f"could not bind {address}")
    return ServiceServer(server, port, health, on_start, on_stop)
