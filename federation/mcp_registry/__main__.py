"""Run the MCP Registry alone: ``python -m federation.mcp_registry --addr 127.0.0.1:50063``."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

from federation.core.hosting import ServiceServer
from federation.mcp_registry.search import default_embedder
from federation.mcp_registry.server import McpRegistryDeps, create_server
from federation.mcp_registry.service import McpRegistry
from mesh.logs import configure
from mesh.settings import OmegaSettings


async def _serve(make: Callable[[], ServiceServer]) -> None:
    await make().serve_forever()  # grpc.aio servers must be created inside the running loop


def main() -> None:
    settings = OmegaSettings()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--addr", default=settings.grpc_addr, help="host:port to listen on")
    parser.add_argument(
        "--allow", action="append", default=[],
        help="default tool allow-list pattern for tenants without one (repeatable; default: none)",
    )
    args = parser.parse_args()
    configure(settings.log_level, settings.log_json)
    registry = McpRegistry(embedder=default_embedder(), default_allow=args.allow)
    asyncio.run(_serve(lambda: create_server(settings, McpRegistryDeps(registry), address=args.addr)))


if __name__ == "__main__":
    main()
