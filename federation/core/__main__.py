"""Run the Federation Core alone, following a remote Agent Registry over WatchAgents:
``python -m federation.core --addr 127.0.0.1:50062 --registry 127.0.0.1:50061
--service ingest=127.0.0.1:50051``."""

from __future__ import annotations

import argparse
import asyncio

import grpc

from federation.core.directory import WatchedAgentDirectory
from federation.core.probe import GrpcHealthProbe
from federation.core.server import CoreDeps, create_server
from federation.core.service import FederationCore
from mesh.logs import configure
from mesh.settings import OmegaSettings


async def serve(settings: OmegaSettings, addr: str, registry_addr: str, services: list[str]) -> None:
    configured: dict[str, list[str]] = {}
    for item in services:
        name, _, address = item.partition("=")
        configured.setdefault(name, []).append(address)
    async with grpc.aio.insecure_channel(registry_addr) as channel:
        directory = WatchedAgentDirectory(channel)
        probe = GrpcHealthProbe()
        core = FederationCore(directory, probe=probe, services=configured)

        async def stop() -> None:
            await directory.stop()
            await probe.aclose()

        deps = CoreDeps(core, on_start=directory.start, on_stop=stop)
        await create_server(settings, deps, address=addr).serve_forever()


def main() -> None:
    settings = OmegaSettings()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--addr", default=settings.grpc_addr, help="host:port to listen on")
    parser.add_argument("--registry", required=True, help="the Agent Registry's host:port")
    parser.add_argument("--service", action="append", default=[], help="name=host:port (repeatable)")
    args = parser.parse_args()
    configure(settings.log_level, settings.log_json)
    asyncio.run(serve(settings, args.addr, args.registry, args.service))


if __name__ == "__main__":
    main()
