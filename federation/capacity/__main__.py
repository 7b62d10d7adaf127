"""Run the Capacity Manager alone (decisions from pushed metrics; KEDA's external scaler):
``python -m federation.capacity --addr 127.0.0.1:50064 --team triage:0:4 --team shadow:0:2``."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

from federation.capacity.policy import TeamPolicy
from federation.capacity.server import CapacityDeps, create_server
from federation.capacity.service import CapacityManager
from federation.core.hosting import ServiceServer
from mesh.logs import configure
from mesh.settings import OmegaSettings


def parse_team(spec: str) -> TeamPolicy:
    """``team:min:max`` (min and max optional)."""
    name, *bounds = spec.split(":")
    lo = int(bounds[0]) if bounds else 0
    hi = int(bounds[1]) if len(bounds) > 1 else max(1, lo)
    return TeamPolicy(team=name, min_workers=lo, max_workers=hi)


async def _serve(make: Callable[[], ServiceServer]) -> None:
    await make().serve_forever()  # grpc.aio servers must be created inside the running loop


def main() -> None:
    settings = OmegaSettings()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--addr", default=settings.grpc_addr, help="host:port to listen on")
    parser.add_argument("--team", action="append", default=[], help="team:min:max (repeatable)")
    args = parser.parse_args()
    configure(settings.log_level, settings.log_json)
    teams = [parse_team(t) for t in args.team] or [
        TeamPolicy(team="triage", max_workers=settings.workers),
        TeamPolicy(team="shadow", max_workers=settings.workers),
    ]
    manager = CapacityManager(teams)
    asyncio.run(_serve(lambda: create_server(settings, CapacityDeps(manager), address=args.addr)))


if __name__ == "__main__":
    main()
