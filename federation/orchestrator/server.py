"""Hosting the Orchestrator: on its own server, or added to a shared one (embedded mesh)."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from omega.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc

from federation.core.hosting import ServiceServer, bind_and_wrap
from federation.orchestrator.service import Orchestrator
from federation.orchestrator.servicer import OrchestratorServicer
from federation.serving import add_health_and_reflection, new_server
from mesh.settings import OmegaSettings, TenantDirectory

SERVICE_NAME = orchestrator_pb2.DESCRIPTOR.services_by_name["OrchestratorService"].full_name


@dataclass
class OrchestratorDeps:
    """The orchestrator over the store and the tenant directory."""

    orchestrator: Orchestrator
    tenants: TenantDirectory


def add_to_server(
    server: grpc.aio.Server, orchestrator: Orchestrator, tenants: TenantDirectory
) -> list[str]:
    """Add the OrchestratorService servicer to ``server``; returns its full service names."""
    orchestrator_pb2_grpc.add_OrchestratorServiceServicer_to_server(
        OrchestratorServicer(orchestrator, tenants), server
    )
    return [SERVICE_NAME]


def create_server(
    settings: OmegaSettings, deps: OrchestratorDeps, *, address: str | None = None
) -> ServiceServer:
    """A server hosting only the Orchestrator, bound to ``address`` (default grpc_addr)."""
    server = new_server()
    names = add_to_server(server, deps.orchestrator, deps.tenants)
    health = add_health_and_reflection(server, names)
    return bind_and_wrap(server, health, address or settings.grpc_addr)
