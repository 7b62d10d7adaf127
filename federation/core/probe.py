"""Liveness probes for the router: a gRPC health check of the agent's endpoint, cached briefly."""

from __future__ import annotations

import logging
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from federation.registry.service import Agent, Clock

log = logging.getLogger(__name__)


class GrpcHealthProbe:
    """``alive(agent)``: its endpoint answers grpc.health.v1 Check with SERVING within the timeout.

    Results are cached for ``cache_s`` so a burst of routes probes each agent once.
    """

    def __init__(self, *, timeout_s: float = 0.5, cache_s: float = 2.0, clock: Clock = time.time):
        self._timeout_s = timeout_s
        self._cache_s = cache_s
        self._clock = clock
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._cache: dict[str, tuple[float, bool]] = {}

    async def alive(self, agent: Agent) -> bool:
        now = self._clock()
        hit = self._cache.get(agent.agent_id)
        if hit is not None and now - hit[0] < self._cache_s:
            return hit[1]
        ok = await self._check(agent.card.endpoint)
        self._cache[agent.agent_id] = (now, ok)
        return ok

    async def _check(self, endpoint: str) -> bool:
        channel = self._channels.get(endpoint)
        if channel is None:
            channel = self._channels[endpoint] = grpc.aio.insecure_channel(endpoint)
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=self._timeout_s
            )
        except grpc.aio.AioRpcError as exc:
            log.info("health probe of %s failed: %s", endpoint, exc.code().name)
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    async def aclose(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
