"""Run the Agent Registry alone: ``python -m federation.registry --addr 127.0.0.1:50061``."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

from federation.core.hosting import ServiceServer
from federation.registry.server import RegistryDeps, create_server
from mesh.logs import configure
from mesh.settings import OmegaSettings


async def _serve(make: Callable[[], ServiceServer]) -> None:
    await make().serve_forever()  # grpc.aio servers must be created inside the running loop


def main() -> None:
    settings = OmegaSettings()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--addr", default=settings.grpc_addr, help="host:port to listen on")
    args = parser.parse_args()
    configure(settings.log_level, settings.log_json)
    asyncio.run(_serve(lambda: create_server(settings, RegistryDeps(), address=args.addr)))


if __name__ == "__main__":
    main()
