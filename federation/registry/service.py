"""Agent Registry: agent cards, leases kept alive by heartbeat, an enforced lifecycle, watches.

Lifecycle (anything else is FAILED_PRECONDITION)::

    PENDING ──▶ READY ◀──▶ BUSY
       │          │          │
       │          └──▶ DRAINING ◀┘
       │                  │
       └──────────▶ STOPPED ◀┘        any live state ──lease lapses──▶ LOST

STOPPED and LOST are terminal: a restarted agent registers again (a new registration with the same
name and endpoint supersedes the old one, which becomes STOPPED).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field, replace

from federation.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable

log = logging.getLogger(__name__)

Clock = Callable[[], float]
"""Seconds since the epoch; injectable so tests control lease expiry."""


class AgentState(enum.Enum):
    PENDING = "PENDING"
    READY = "READY"
    BUSY = "BUSY"
    DRAINING = "DRAINING"
    STOPPED = "STOPPED"
    LOST = "LOST"


LIVE_STATES = frozenset({AgentState.PENDING, AgentState.READY, AgentState.BUSY, AgentState.DRAINING})

ALLOWED_TRANSITIONS: dict[AgentState, frozenset[AgentState]] = {
    AgentState.PENDING: frozenset({AgentState.READY, AgentState.STOPPED}),
    AgentState.READY: frozenset({AgentState.BUSY, AgentState.DRAINING}),
    AgentState.BUSY: frozenset({AgentState.READY, AgentState.DRAINING}),
    AgentState.DRAINING: frozenset({AgentState.STOPPED}),
    AgentState.STOPPED: frozenset(),
    AgentState.LOST: frozenset(),
}


@dataclass(frozen=True)
class AgentSkill:
    id: str
    name: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class AgentCard:
    """What an agent says about itself (after A2A's agent card)."""

    name: str
    team: str
    endpoint: str
    capabilities: tuple[str, ...]
    version: str = ""
    description: str = ""
    skills: tuple[AgentSkill, ...] = ()
    tenants: tuple[str, ...] = ()  # empty: serves every tenant
    max_in_flight: int = 1
    labels: tuple[tuple[str, str], ...] = ()

    def serves(self, tenant: str) -> bool:
        return not self.tenants or tenant in self.tenants

    def offers(self, capability: str) -> bool:
        return capability in self.capabilities or any(s.id == capability for s in self.skills)


@dataclass(frozen=True)
class Agent:
    """A registration and its live status (immutable snapshot)."""

    agent_id: str
    card: AgentCard
    state: AgentState
    in_flight: int
    lease_ttl_s: float
    lease_expires_at: float
    registered_at: float
    updated_at: float
    revision: int
    state_reason: str = ""

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES


class WatchEventType(enum.Enum):
    SNAPSHOT = "SNAPSHOT"
    SYNCED = "SYNCED"
    REGISTERED = "REGISTERED"
    UPDATED = "UPDATED"


@dataclass(frozen=True)
class WatchEvent:
    type: WatchEventType
    agent: Agent | None
    revision: int


@dataclass(frozen=True)
class AgentFilter:
    """Empty fields match everything; empty ``states`` means every live state."""

    team: str = ""
    capability: str = ""
    tenant: str = ""
    states: frozenset[AgentState] = field(default_factory=frozenset)

    def matches(self, agent: Agent, *, any_state: bool = False) -> bool:
        card = agent.card
        if self.team and card.team != self.team:
            return False
        if self.capability and not card.offers(self.capability):
            return False
        if self.tenant and not card.serves(self.tenant):
            return False
        if any_state:
            return True
        return agent.state in (self.states or LIVE_STATES)


@dataclass
class _Watcher:
    filter: AgentFilter
    queue: asyncio.Queue[WatchEvent | None]
    overflowed: bool = False


class AgentRegistry:
    """In-memory registry of agents; one instance per deployment (state is rebuilt by re-registration)."""

    def __init__(
        self,
        *,
        clock: Clock = time.time,
        default_lease_s: float = 15.0,
        min_lease_s: float = 1.0,
        max_lease_s: float = 300.0,
        watch_queue_size: int = 1024,
        retention_s: float = 3600.0,
    ) -> None:
        self._clock = clock
        self._default_lease_s = default_lease_s
        self._min_lease_s = min_lease_s
        self._max_lease_s = max_lease_s
        self._watch_queue_size = watch_queue_size
        self._retention_s = retention_s
        self._agents: dict[str, Agent] = {}
        self._watchers: list[_Watcher] = []
        self._revision = 0
        self._next_expiry = math.inf  # no live lease ends before this
        self._reaper: asyncio.Task[None] | None = None

    # -- commands ---------------------------------------------------------------------------

    async def register(self, card: AgentCard, lease_ttl_s: float | None = None) -> Agent:
        """Record a card; the agent starts PENDING with a fresh lease."""
        _validate_card(card)
        self.expire_leases()
        now = self._clock()
        ttl = min(self._max_lease_s, max(self._min_lease_s, lease_ttl_s or self._default_lease_s))
        for old in list(self._agents.values()):
            if not old.live and old.updated_at < now - self._retention_s:
                del self._agents[old.agent_id]  # forget long-stopped and long-lost agents
            elif old.live and old.card.name == card.name and old.card.endpoint == card.endpoint:
                self._put(
                    replace(old, state=AgentState.STOPPED, state_reason="superseded", updated_at=now),
                    WatchEventType.UPDATED,
                )
        agent = Agent(
            agent_id=uuid.uuid4().hex,
            card=card,
            state=AgentState.PENDING,
            in_flight=0,
            lease_ttl_s=ttl,
            lease_expires_at=now + ttl,
            registered_at=now,
            updated_at=now,
            revision=0,
        )
        self._next_expiry = min(self._next_expiry, agent.lease_expires_at)
        log.info("agent %s registered (team %s, id %s)", card.name, card.team, agent.agent_id)
        return self._put(agent, WatchEventType.REGISTERED)

    async def heartbeat(
        self, agent_id: str, *, in_flight: int | None = None, state: AgentState | None = None
    ) -> Agent:
        """Renew the lease; optionally report load and make a lifecycle transition."""
        agent = self._live(agent_id)
        now = self._clock()
        changed = False
        new = replace(agent, lease_expires_at=now + agent.lease_ttl_s)
        if in_flight is not None and in_flight != agent.in_flight:
            if in_flight < 0:
                raise InvalidArgument("in_flight must be >= 0", reason="BAD_LOAD")
            new = replace(new, in_flight=in_flight)
            changed = True
        if state is not None and state != agent.state:
            _check_transition(agent, state)
            new = replace(new, state=state)
            changed = True
        if not changed:
            self._agents[agent_id] = new  # lease renewal alone is not an event
            return new
        return self._put(replace(new, updated_at=now), WatchEventType.UPDATED)

    async def update_state(self, agent_id: str, state: AgentState, reason: str = "") -> Agent:
        """Make a lifecycle transition (FailedPrecondition when the lifecycle forbids it)."""
        agent = self._live(agent_id)
        if state == agent.state:
            return agent
        _check_transition(agent, state)
        return self._put(
            replace(agent, state=state, state_reason=reason, updated_at=self._clock()),
            WatchEventType.UPDATED,
        )

    def expire_leases(self) -> list[Agent]:
        """Mark every live agent whose lease lapsed as LOST; returns them."""
        now = self._clock()
        if now < self._next_expiry:  # no lease can have lapsed yet (leases only get longer)
            return []
        lost = []
        next_expiry = math.inf
        for agent in list(self._agents.values()):
            if agent.live and agent.lease_expires_at > now:
                next_expiry = min(next_expiry, agent.lease_expires_at)
            if agent.live and agent.lease_expires_at <= now:
                log.warning("agent %s (%s) lost: lease expired", agent.card.name, agent.agent_id)
                lost.append(
                    self._put(
                        replace(
                            agent, state=AgentState.LOST, state_reason="lease expired", updated_at=now
                        ),
                        WatchEventType.UPDATED,
                    )
                )
        self._next_expiry = next_expiry
        return lost

    # -- queries ----------------------------------------------------------------------------

    async def get(self, agent_id: str) -> Agent:
        self.expire_leases()
        try:
            return self._agents[agent_id]
        except KeyError:
            raise NotFound(f"no agent {agent_id!r}", reason="AGENT_NOT_FOUND") from None

    async def list_agents(self, flt: AgentFilter | None = None) -> list[Agent]:
        """Matching agents, ordered by id."""
        self.expire_leases()
        flt = flt or AgentFilter()
        return [a for _, a in sorted(self._agents.items()) if flt.matches(a)]

    async def watch(self, flt: AgentFilter | None = None) -> AsyncIterator[WatchEvent]:
        """A snapshot of the matching agents, SYNCED, then every change of a matching agent."""
        self.expire_leases()
        flt = flt or AgentFilter()
        watcher = _Watcher(flt, asyncio.Queue(self._watch_queue_size))
        snapshot = [a for _, a in sorted(self._agents.items()) if flt.matches(a)]
        revision = self._revision
        self._watchers.append(watcher)  # registered before yielding: no change is missed
        try:
            for agent in snapshot:
                yield WatchEvent(WatchEventType.SNAPSHOT, agent, agent.revision)
            yield WatchEvent(WatchEventType.SYNCED, None, revision)
            while True:
                event = await watcher.queue.get()
                if event is None:
                    raise Unavailable("watch fell behind; watch again", reason="WATCH_OVERFLOW")
                yield event
        finally:
            with contextlib.suppress(ValueError):
                self._watchers.remove(watcher)

    @property
    def revision(self) -> int:
        return self._revision

    # -- background -------------------------------------------------------------------------

    def start(self, interval_s: float = 1.0) -> None:
        """Start the lease reaper (marks lapsed agents LOST promptly, so watchers hear of it)."""
        if self._reaper is None:
            self._reaper = asyncio.get_running_loop().create_task(self._reap(interval_s))

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None

    async def _reap(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                self.expire_leases()
            except Exception:  # noqa: BLE001 - the reaper must survive
                log.exception("lease reaper failed")

    # -- internals --------------------------------------------------------------------------

    def _live(self, agent_id: str) -> Agent:
        self.expire_leases()
        agent = self._agents.get(agent_id)
        if agent is None:
            raise NotFound(f"no agent {agent_id!r}", reason="AGENT_NOT_FOUND")
        if not agent.live:
            raise FailedPrecondition(
                f"agent is {agent.state.value}; register again",
                reason=f"AGENT_{agent.state.value}",
                agent_id=agent_id,
            )
        return agent

    def _put(self, agent: Agent, event_type: WatchEventType) -> Agent:
        self._revision += 1
        agent = replace(agent, revision=self._revision)
        self._agents[agent.agent_id] = agent
        self._publish(WatchEvent(event_type, agent, self._revision))
        return agent

    def _publish(self, event: WatchEvent) -> None:
        assert event.agent is not None
        for w in list(self._watchers):
            if w.overflowed or not w.filter.matches(event.agent, any_state=True):
                continue
            try:
                w.queue.put_nowait(event)
            except asyncio.QueueFull:
                w.overflowed = True
                _drop_oldest_and_close(w.queue)


def _drop_oldest_and_close(queue: asyncio.Queue[WatchEvent | None]) -> None:
    with contextlib.suppress(asyncio.QueueEmpty):
        queue.get_nowait()
    queue.put_nowait(None)


def _check_transition(agent: Agent, target: AgentState) -> None:
    if target not in ALLOWED_TRANSITIONS[agent.state]:
        raise FailedPrecondition(
            f"illegal transition {agent.state.value} -> {target.value}",
            reason="ILLEGAL_TRANSITION",
            agent_id=agent.agent_id,
            from_state=agent.state.value,
            to_state=target.value,
        )


def _validate_card(card: AgentCard) -> None:
    missing = [f for f in ("name", "team", "endpoint") if not getattr(card, f)]
    if missing:
        raise InvalidArgument(f"agent card lacks {', '.join(missing)}", reason="BAD_AGENT_CARD")
    if not card.capabilities and not card.skills:
        raise InvalidArgument("agent card has no capability or skill", reason="BAD_AGENT_CARD")
    if card.max_in_flight < 1:
        raise InvalidArgument("max_in_flight must be >= 1", reason="BAD_AGENT_CARD")


def card_labels(labels: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Labels in a canonical (sorted) order, so equal cards compare equal."""
    return tuple(sorted(labels))
