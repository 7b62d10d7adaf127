"""A local copy of the Agent Registry kept current by WatchAgents, for a Core in its own process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import grpc
from omega.registry.v1 import registry_pb2, registry_pb2_grpc

from federation.registry.service import Agent, AgentFilter
from federation.registry.servicer import agent_from_proto

log = logging.getLogger(__name__)


class WatchedAgentDirectory:
    """Implements ``AgentDirectory`` from a registry reached over gRPC.

    ``start()`` opens WatchAgents (snapshot, then deltas) and re-opens it with backoff when it
    breaks; ``synced`` is set once a snapshot is complete. Lease expiry is still checked by the
    router against its own clock, so a stale copy never routes to a lapsed agent.
    """

    def __init__(self, channel: grpc.aio.Channel, *, max_backoff_s: float = 5.0) -> None:
        self._stub = registry_pb2_grpc.AgentRegistryServiceStub(channel)
        self._max_backoff_s = max_backoff_s
        self._agents: dict[str, Agent] = {}
        self._task: asyncio.Task[None] | None = None
        self.synced = asyncio.Event()
        self._changed = asyncio.Event()

    async def list_agents(self, flt: AgentFilter | None = None) -> list[Agent]:
        flt = flt or AgentFilter()
        return [a for _, a in sorted(self._agents.items()) if flt.matches(a)]

    async def wait_for(self, predicate: Callable[[list[Agent]], bool]) -> None:
        """Return once ``predicate(live agents)`` holds (callers bound the wait)."""
        while True:
            changed = self._changed
            if self.synced.is_set() and predicate(await self.list_agents()):
                return
            await changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            synced = False
            try:
                synced = await self._watch_once()
            except grpc.aio.AioRpcError as exc:
                log.warning("registry watch broke (%s); retrying in %.1fs", exc.code().name, backoff)
            self.synced.clear()
            backoff = 0.1 if synced else min(self._max_backoff_s, backoff * 2)
            await asyncio.sleep(backoff)

    async def _watch_once(self) -> bool:
        """Follow one watch stream; True when it got as far as a complete snapshot."""
        fresh: dict[str, Agent] = {}
        synced = False
        call = self._stub.WatchAgents(registry_pb2.WatchAgentsRequest())
        try:
            async for event in call:
                if event.type == registry_pb2.WATCH_EVENT_TYPE_SNAPSHOT:
                    fresh[event.agent.agent_id] = agent_from_proto(event.agent)
                elif event.type == registry_pb2.WATCH_EVENT_TYPE_SYNCED:
                    self._agents = fresh
                    synced = True
                    self.synced.set()
                    self._notify()
                else:
                    agent = agent_from_proto(event.agent)
                    if agent.live:
                        self._agents[agent.agent_id] = agent
                    else:
                        self._agents.pop(agent.agent_id, None)
                    self._notify()
        except grpc.aio.AioRpcError:
            if not synced:
                raise
            log.warning("registry watch broke after sync; re-watching")
        return synced
