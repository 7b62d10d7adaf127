"""The shadow team as a mesh component: the pipeline step, ShadowService (gRPC) and the dashboard."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from omega.shadow.v1 import shadow_pb2, shadow_pb2_grpc
from starlette.routing import BaseRoute

from mesh.components import MeshContext
from teams.pipeline import Step
from teams.shadow.config import ShadowPolicies
from teams.shadow.executor import RunbookExecutor
from teams.shadow.service import ShadowService
from teams.shadow.servicer import ShadowServicer
from teams.shadow.step import ShadowStep
from teams.shadow.writeback import TicketWriteBack


class ShadowComponent:
    """Publishes ``ctx.services["shadow"]`` (the ShadowService, which also carries out the
    TicketService technician actions)."""

    name = "shadow"

    def __init__(
        self,
        *,
        executor: RunbookExecutor | None = None,
        writeback_factory: Callable[[str, str], TicketWriteBack] | None = None,
        policies: ShadowPolicies | None = None,
    ) -> None:
        self._executor = executor
        self._writeback_factory = writeback_factory
        self._policies = policies
        self.service: ShadowService | None = None
        self._dashboard: object | None = None

    async def start(self, ctx: MeshContext) -> None:
        from dashboard.api import DashboardApi

        policies = self._policies or ShadowPolicies.load(ctx.settings.policies_path)
        self.service = ShadowService(
            ctx.store, ctx.tenants, policies, executor=self._executor,
            writeback_factory=self._writeback_factory,
            similar=ctx.services.get("similar_tickets"), memory=ctx.services.get("context"),
        )
        self._dashboard = DashboardApi(self.service)
        ctx.services["shadow"] = self.service

    def add_to_grpc(self, server: grpc.aio.Server) -> list[str]:
        assert self.service is not None
        shadow_pb2_grpc.add_ShadowServiceServicer_to_server(ShadowServicer(self.service), server)
        return [shadow_pb2.DESCRIPTOR.services_by_name["ShadowService"].full_name]

    def routes(self) -> list[BaseRoute]:
        from dashboard.api import DashboardApi

        assert isinstance(self._dashboard, DashboardApi)
        return self._dashboard.routes()

    def steps(self) -> list[Step]:
        assert self.service is not None
        return [ShadowStep(self.service)]

    async def serving(self, ctx: MeshContext) -> None:
        # Components started after this one (the Context Server) may have published these since.
        assert self.service is not None
        self.service.similar = self.service.similar or ctx.services.get("similar_tickets")
        self.service.memory = self.service.memory or ctx.services.get("context")

    async def stop(self) -> None:
        if self.service is not None:
            await self.service.aclose()
