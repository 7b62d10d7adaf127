"""omega.registry.v1.AgentRegistryService: proto ↔ domain translation only."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from google.protobuf import duration_pb2, timestamp_pb2
from omega.registry.v1 import registry_pb2, registry_pb2_grpc

from federation.errors import InvalidArgument
from federation.registry.service import (
    Agent,
    AgentCard,
    AgentFilter,
    AgentRegistry,
    AgentSkill,
    AgentState,
    WatchEventType,
    card_labels,
)

STATE_TO_PROTO: dict[AgentState, int] = {
    AgentState.PENDING: registry_pb2.AGENT_STATE_PENDING,
    AgentState.READY: registry_pb2.AGENT_STATE_READY,
    AgentState.BUSY: registry_pb2.AGENT_STATE_BUSY,
    AgentState.DRAINING: registry_pb2.AGENT_STATE_DRAINING,
    AgentState.STOPPED: registry_pb2.AGENT_STATE_STOPPED,
    AgentState.LOST: registry_pb2.AGENT_STATE_LOST,
}
PROTO_TO_STATE: dict[int, AgentState] = {v: k for k, v in STATE_TO_PROTO.items()}
EVENT_TO_PROTO: dict[WatchEventType, int] = {
    WatchEventType.SNAPSHOT: registry_pb2.WATCH_EVENT_TYPE_SNAPSHOT,
    WatchEventType.SYNCED: registry_pb2.WATCH_EVENT_TYPE_SYNCED,
    WatchEventType.REGISTERED: registry_pb2.WATCH_EVENT_TYPE_REGISTERED,
    WatchEventType.UPDATED: registry_pb2.WATCH_EVENT_TYPE_UPDATED,
}
MAX_PAGE = 1000


def timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def duration(seconds: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(seconds * 1e9))
    return d


def card_from_proto(msg: registry_pb2.AgentCard) -> AgentCard:
    return AgentCard(
        name=msg.name,
        team=msg.team,
        endpoint=msg.endpoint,
        capabilities=tuple(msg.capabilities),
        version=msg.version,
        description=msg.description,
        skills=tuple(
            AgentSkill(id=s.id, name=s.name, description=s.description, tags=tuple(s.tags))
            for s in msg.skills
        ),
        tenants=tuple(msg.tenants),
        max_in_flight=msg.max_in_flight or 1,
        labels=card_labels(msg.labels.items()),
    )


def card_to_proto(card: AgentCard) -> registry_pb2.AgentCard:
    return registry_pb2.AgentCard(
        name=card.name,
        description=card.description,
        version=card.version,
        team=card.team,
        capabilities=list(card.capabilities),
        skills=[
            registry_pb2.AgentSkill(id=s.id, name=s.name, description=s.description, tags=s.tags)
            for s in card.skills
        ],
        endpoint=card.endpoint,
        tenants=list(card.tenants),
        max_in_flight=card.max_in_flight,
        labels=dict(card.labels),
    )


class AgentProtoCache:
    """Converts agents to protos, reusing the last proto of each agent while its snapshot is the
    same object (registry snapshots are immutable). Callers copy or serialise, never mutate."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._max = max_entries
        self._protos: dict[str, tuple[Agent, registry_pb2.Agent]] = {}

    def __call__(self, agent: Agent) -> registry_pb2.Agent:
        hit = self._protos.get(agent.agent_id)
        if hit is not None and hit[0] is agent:
            return hit[1]
        msg = agent_to_proto(agent)
        if len(self._protos) >= self._max:
            self._protos.clear()
        self._protos[agent.agent_id] = (agent, msg)
        return msg


def agent_to_proto(agent: Agent) -> registry_pb2.Agent:
    return registry_pb2.Agent(
        agent_id=agent.agent_id,
        card=card_to_proto(agent.card),
        state=STATE_TO_PROTO[agent.state],
        in_flight=agent.in_flight,
        lease_expire_time=timestamp(agent.lease_expires_at),
        register_time=timestamp(agent.registered_at),
        update_time=timestamp(agent.updated_at),
        state_reason=agent.state_reason,
        revision=agent.revision,
    )


def agent_from_proto(msg: registry_pb2.Agent) -> Agent:
    """The domain agent of a proto (the lease length is not on the wire, so it is 0)."""
    return Agent(
        agent_id=msg.agent_id,
        card=card_from_proto(msg.card),
        state=PROTO_TO_STATE[msg.state],
        in_flight=msg.in_flight,
        lease_ttl_s=0.0,
        lease_expires_at=msg.lease_expire_time.ToNanoseconds() / 1e9,
        registered_at=msg.register_time.ToNanoseconds() / 1e9,
        updated_at=msg.update_time.ToNanoseconds() / 1e9,
        revision=msg.revision,
        state_reason=msg.state_reason,
    )


def state_from_proto(value: int, *, allow_unspecified: bool) -> AgentState | None:
    if value == registry_pb2.AGENT_STATE_UNSPECIFIED and allow_unspecified:
        return None
    try:
        return PROTO_TO_STATE[value]
    except KeyError:
        raise InvalidArgument("state must be set to a known state", reason="BAD_STATE") from None


def filter_from_proto(msg: registry_pb2.AgentFilter) -> AgentFilter:
    states = frozenset(
        s for v in msg.states if (s := state_from_proto(v, allow_unspecified=True)) is not None
    )
    return AgentFilter(team=msg.team, capability=msg.capability, tenant=msg.tenant, states=states)


class AgentRegistryServicer(registry_pb2_grpc.AgentRegistryServiceServicer):  # type: ignore[misc]
    """Translates omega.registry.v1 calls to :class:`AgentRegistry`."""

    def __init__(self, registry: AgentRegistry) -> None:
        self._registry = registry
        self._to_proto = AgentProtoCache()

    async def RegisterAgent(
        self, request: registry_pb2.RegisterAgentRequest, context: grpc.aio.ServicerContext
    ) -> registry_pb2.RegisterAgentResponse:
        ttl = request.lease_ttl.ToNanoseconds() / 1e9 if request.HasField("lease_ttl") else None
        agent = await self._registry.register(card_from_proto(request.card), ttl)
        return registry_pb2.RegisterAgentResponse(
            agent=self._to_proto(agent), lease_ttl=duration(agent.lease_ttl_s)
        )

    async def Heartbeat(
        self, request: registry_pb2.HeartbeatRequest, context: grpc.aio.ServicerContext
    ) -> registry_pb2.HeartbeatResponse:
        agent = await self._registry.heartbeat(
            request.agent_id,
            in_flight=request.in_flight,
            state=state_from_proto(request.state, allow_unspecified=True),
        )
        return registry_pb2.HeartbeatResponse(agent=self._to_proto(agent))

    async def UpdateAgentState(
        self, request: registry_pb2.UpdateAgentStateRequest, context: grpc.aio.ServicerContext
    ) -> registry_pb2.UpdateAgentStateResponse:
        state = state_from_proto(request.state, allow_unspecified=False)
        assert state is not None
        agent = await self._registry.update_state(request.agent_id, state, request.reason)
        return registry_pb2.UpdateAgentStateResponse(agent=self._to_proto(agent))

    async def GetAgent(
        self, request: registry_pb2.GetAgentRequest, context: grpc.aio.ServicerContext
    ) -> registry_pb2.GetAgentResponse:
        return registry_pb2.GetAgentResponse(
            agent=self._to_proto(await self._registry.get(request.agent_id))
        )

    async def ListAgents(
        self, request: registry_pb2.ListAgentsRequest, context: grpc.aio.ServicerContext
    ) -> registry_pb2.ListAgentsResponse:
        size = min(MAX_PAGE, request.page_size or 100)
        if request.page_size < 0:
            raise InvalidArgument("page_size must be >= 0", reason="BAD_PAGE_SIZE")
        agents = [
            a
            for a in await self._registry.list_agents(filter_from_proto(request.filter))
            if a.agent_id > request.page_token
        ]
        page = agents[:size]
        token = page[-1].agent_id if len(agents) > size else ""
        return registry_pb2.ListAgentsResponse(
            agents=[self._to_proto(a) for a in page], next_page_token=token
        )

    async def WatchAgents(
        self, request: registry_pb2.WatchAgentsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[registry_pb2.WatchAgentsResponse]:
        async for event in self._registry.watch(filter_from_proto(request.filter)):
            msg = registry_pb2.WatchAgentsResponse(
                type=EVENT_TO_PROTO[event.type],
                revision=event.revision,
            )
            if event.agent is not None:
                msg.agent.CopyFrom(self._to_proto(event.agent))
            yield msg
