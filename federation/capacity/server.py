"""Hosting the Capacity Manager (CapacityService + KEDA's ExternalScaler)."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from omega.capacity.v1 import capacity_pb2, capacity_pb2_grpc
from omega.third_party.keda import externalscaler_pb2, externalscaler_pb2_grpc

from federation.capacity.keda import ExternalScalerServicer
from federation.capacity.service import CapacityManager
from federation.capacity.servicer import CapacityServicer
from federation.core.hosting import ServiceServer, bind_and_wrap
from federation.serving import add_health_and_reflection, new_server
from mesh.settings import OmegaSettings

SERVICE_NAMES = [
    capacity_pb2.DESCRIPTOR.services_by_name["CapacityService"].full_name,
    externalscaler_pb2.DESCRIPTOR.services_by_name["ExternalScaler"].full_name,
]


@dataclass
class CapacityDeps:
    """The manager (with its WorkerPool and QueueMetricsSource) and its reconcile period."""

    manager: CapacityManager
    reconcile_interval_s: float = 5.0


def add_to_server(server: grpc.aio.Server, manager: CapacityManager) -> list[str]:
    """Add CapacityService and externalscaler.ExternalScaler to ``server``; returns their names."""
    capacity_pb2_grpc.add_CapacityServiceServicer_to_server(CapacityServicer(manager), server)
    externalscaler_pb2_grpc.add_ExternalScalerServicer_to_server(
        ExternalScalerServicer(manager), server
    )
    return list(SERVICE_NAMES)


def create_server(
    settings: OmegaSettings, deps: CapacityDeps, *, address: str | None = None
) -> ServiceServer:
    """A server hosting only the Capacity Manager; starting it starts the reconcile loop."""
    server = new_server()
    names = add_to_server(server, deps.manager)
    health = add_health_and_reflection(server, names)
    return bind_and_wrap(
        server,
        health,
        address or settings.grpc_addr,
        on_start=lambda: deps.manager.start(deps.reconcile_interval_s),
        on_stop=deps.manager.stop,
    )
