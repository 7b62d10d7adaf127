"""Federation Core: capability routing of tasks to agents, and service discovery for the mesh.

Routing (``FederationCore.route``), for one capability and tenant:

1. candidates: live agents offering the capability and serving the tenant (agents dedicated to
   other tenants are never considered, nor named in the answer);
2. skip excluded/recently failed agents, agents whose lease lapsed (LOST) and agents not READY;
3. tenant affinity: when some eligible agents are dedicated to the tenant, only they are used;
4. rank: with an affinity key (e.g. a technician id), rendezvous (HRW) hashing over agent names, so
   the key keeps its agent while that agent lives and only moves when it leaves; without one,
   least effective load (reported in-flight + tasks routed since that report, over capacity);
5. try in rank order: a candidate that fails the liveness probe is marked LOST, quarantined, and
   the next one is tried (up to ``max_attempts``).
"""

from __future__ import annotations

import enum
import hashlib
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from federation.errors import InvalidArgument, NotFound, Unavailable
from federation.registry.service import LIVE_STATES, Agent, AgentFilter, AgentState, Clock

log = logging.getLogger(__name__)


class AgentDirectory(Protocol):
    """Where the router reads agents from: the in-process ``AgentRegistry`` or a watched copy."""

    async def list_agents(self, flt: AgentFilter | None = None) -> list[Agent]: ...


class AgentProbe(Protocol):
    """An active liveness check of a chosen agent (for example a gRPC health check)."""

    async def alive(self, agent: Agent) -> bool: ...


class Verdict(enum.Enum):
    CHOSEN = "CHOSEN"
    RANKED_LOWER = "RANKED_LOWER"
    LOST = "LOST"
    EXCLUDED = "EXCLUDED"
    NOT_READY = "NOT_READY"
    NOT_AFFINE = "NOT_AFFINE"


@dataclass(frozen=True)
class Consideration:
    agent_id: str
    agent_name: str
    verdict: Verdict
    load: float = 0.0
    affinity_score: float = 0.0
    note: str = ""


@dataclass(frozen=True)
class RouteDecision:
    """The chosen agent, why, and the candidates worth showing: the chosen one, every skipped
    one (lost, excluded, not ready), then the best few runners-up; ``considered`` counts all."""

    agent: Agent
    reason: str
    candidates: tuple[Consideration, ...]
    attempts: int
    considered: int


class EndpointSource(enum.Enum):
    CONFIGURATION = "CONFIGURATION"
    REGISTRATION = "REGISTRATION"


@dataclass(frozen=True)
class ServiceEndpoint:
    service: str
    address: str
    source: EndpointSource
    expires_at: float | None = None


def rendezvous_score(key: str, node: str) -> float:
    """Highest-random-weight score of ``node`` for ``key``, uniform in [0, 1)."""
    digest = hashlib.blake2b(f"{key}\x00{node}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass
class _Assigned:
    revision: int
    since: float
    count: int


class FederationCore:
    """Routes tasks to agents and resolves service addresses; no gRPC types here."""

    def __init__(
        self,
        directory: AgentDirectory,
        *,
        clock: Clock = time.time,
        probe: AgentProbe | None = None,
        max_attempts: int = 3,
        quarantine_s: float = 10.0,
        runners_up: int = 3,
        assignment_memory_s: float = 5.0,
        services: Mapping[str, Sequence[str]] | None = None,
        default_service_ttl_s: float = 30.0,
    ) -> None:
        self._directory = directory
        self._clock = clock
        self._probe = probe
        self._max_attempts = max_attempts
        self._quarantine_s = quarantine_s
        self._runners_up = runners_up
        self._assignment_memory_s = assignment_memory_s
        self._configured = {name: tuple(addrs) for name, addrs in (services or {}).items()}
        self._default_service_ttl_s = default_service_ttl_s
        self._registered: dict[tuple[str, str], float] = {}
        self._quarantined: dict[str, float] = {}
        self._assigned: dict[str, _Assigned] = {}
        self._rotation = 0

    # -- routing ----------------------------------------------------------------------------

    async def route(
        self,
        tenant: str,
        capability: str,
        *,
        task_id: str = "",
        affinity_key: str = "",
        exclude: Iterable[str] = (),
    ) -> RouteDecision:
        """Pick a READY agent for ``capability`` and ``tenant`` (Unavailable when none is)."""
        if not capability:
            raise InvalidArgument("capability is required", reason="BAD_CAPABILITY")
        now = self._clock()
        excluded = set(exclude) | {a for a, until in self._quarantined.items() if until > now}
        agents = await self._directory.list_agents(
            AgentFilter(capability=capability, tenant=tenant, states=LIVE_STATES)
        )
        if not agents:
            raise Unavailable(
                f"no agent offers {capability!r} for this tenant",
                reason="NO_AGENT_FOR_CAPABILITY",
                capability=capability,
            )
        skipped: list[Consideration] = []
        eligible: list[Agent] = []
        for agent in agents:
            if agent.agent_id in excluded:
                skipped.append(_c(agent, Verdict.EXCLUDED, "excluded or recently failed"))
            elif agent.lease_expires_at <= now:
                skipped.append(_c(agent, Verdict.LOST, "lease expired"))
            elif agent.state is not AgentState.READY:
                skipped.append(_c(agent, Verdict.NOT_READY, f"state {agent.state.value}"))
            else:
                eligible.append(agent)
        dedicated = [a for a in eligible if tenant in a.card.tenants]
        pool = dedicated or eligible
        passed_over = [a for a in eligible if tenant not in a.card.tenants] if dedicated else []
        ranked = self._rank(pool, now, task_id=task_id, affinity_key=affinity_key)
        attempts = 0
        chosen: Consideration | None = None
        chosen_agent: Agent | None = None
        runners_up: list[Consideration] = []
        for agent, load, score in ranked:
            if chosen is not None or attempts >= self._max_attempts:
                if len(runners_up) < self._runners_up:
                    runners_up.append(_c(agent, Verdict.RANKED_LOWER, "", load, score))
                continue
            attempts += 1
            if self._probe is not None and not await self._probe.alive(agent):
                log.warning("agent %s failed its liveness probe; routing elsewhere", agent.agent_id)
                self._quarantined[agent.agent_id] = now + self._quarantine_s
                skipped.append(_c(agent, Verdict.LOST, "failed liveness probe", load, score))
                continue
            chosen, chosen_agent = _c(agent, Verdict.CHOSEN, "", load, score), agent
        if chosen is None or chosen_agent is None:
            raise Unavailable(
                f"no READY live agent offers {capability!r} for this tenant",
                reason="NO_READY_AGENT",
                capability=capability,
            )
        self._note_assignment(chosen_agent, now)
        for agent in passed_over[: max(0, self._runners_up - len(runners_up))]:
            runners_up.append(_c(agent, Verdict.NOT_AFFINE, "shared agent"))
        lost = sum(1 for c in skipped if c.verdict is Verdict.LOST)
        reason = self._reason(chosen_agent, chosen, len(pool), bool(dedicated), affinity_key, lost)
        listed = (chosen, *sorted(skipped, key=lambda c: c.agent_name), *runners_up)
        return RouteDecision(chosen_agent, reason, listed, attempts, len(agents))

    def report_failure(self, agent_id: str) -> None:
        """Quarantine an agent a caller could not reach (it is skipped for ``quarantine_s``)."""
        now = self._clock()
        for stale in [a for a, until in self._quarantined.items() if until <= now]:
            del self._quarantined[stale]
        self._quarantined[agent_id] = now + self._quarantine_s

    def _rank(
        self, pool: list[Agent], now: float, *, task_id: str, affinity_key: str
    ) -> list[tuple[Agent, float, float]]:
        if affinity_key:
            scored = [(a, self._load(a, now), rendezvous_score(affinity_key, a.card.name)) for a in pool]
            return sorted(scored, key=lambda t: -t[2])
        # Equal loads are broken by a rotating offset, so ties spread round-robin.
        self._rotation += 1
        n = len(pool)
        scored = [(a, self._load(a, now), (i - self._rotation) % n) for i, a in enumerate(pool)]
        return [(a, load, 0.0) for a, load, _ in sorted(scored, key=lambda t: (t[1], t[2]))]

    def _load(self, agent: Agent, now: float) -> float:
        assigned = self._assigned.get(agent.agent_id)
        extra = 0
        if (
            assigned is not None
            and assigned.revision == agent.revision
            and now - assigned.since < self._assignment_memory_s
        ):
            extra = assigned.count
        return (agent.in_flight + extra) / max(1, agent.card.max_in_flight)

    def _note_assignment(self, agent: Agent, now: float) -> None:
        if len(self._assigned) > 4096:  # agents come and go; keep the bookkeeping bounded
            self._assigned.clear()
        a = self._assigned.get(agent.agent_id)
        if a is None or a.revision != agent.revision or now - a.since >= self._assignment_memory_s:
            self._assigned[agent.agent_id] = _Assigned(agent.revision, now, 1)
        else:
            a.count += 1

    @staticmethod
    def _reason(
        agent: Agent,
        chosen: Consideration,
        pool_size: int,
        dedicated: bool,
        affinity_key: str,
        lost: int,
    ) -> str:
        scope = "dedicated to the tenant" if dedicated else "shared"
        if affinity_key:
            text = (
                f"affinity key hashes to {agent.card.name} (rendezvous hashing) "
                f"among {pool_size} READY {scope} agent(s)"
            )
        else:
            text = (
                f"least-loaded of {pool_size} READY {scope} agent(s): "
                f"{agent.in_flight} in flight of {agent.card.max_in_flight} (load {chosen.load:.2f})"
            )
        if lost:
            text += f"; {lost} candidate(s) lost, routed elsewhere"
        return text

    # -- service discovery ------------------------------------------------------------------

    async def register_endpoint(
        self, service: str, address: str, ttl_s: float | None = None
    ) -> ServiceEndpoint:
        """Record (or renew) ``address`` for ``service`` for ``ttl_s`` seconds."""
        if not service or not address:
            raise InvalidArgument("service and address are required", reason="BAD_ENDPOINT")
        expires = self._clock() + (ttl_s or self._default_service_ttl_s)
        self._registered[(service, address)] = expires
        return ServiceEndpoint(service, address, EndpointSource.REGISTRATION, expires)

    async def resolve(self, service: str) -> list[ServiceEndpoint]:
        """Configured addresses first, then live registrations (NotFound when there are none)."""
        found = [e for e in self._endpoints() if e.service == service]
        if not found:
            raise NotFound(f"no address for service {service!r}", reason="SERVICE_NOT_FOUND")
        return found

    async def list_services(self) -> list[ServiceEndpoint]:
        return sorted(self._endpoints(), key=lambda e: (e.service, e.address))

    def _endpoints(self) -> list[ServiceEndpoint]:
        now = self._clock()
        for key, expires in list(self._registered.items()):
            if expires <= now:
                del self._registered[key]
        out = [
            ServiceEndpoint(name, addr, EndpointSource.CONFIGURATION)
            for name, addrs in sorted(self._configured.items())
            for addr in addrs
        ]
        configured = {(e.service, e.address) for e in out}
        out += [
            ServiceEndpoint(s, a, EndpointSource.REGISTRATION, exp)
            for (s, a), exp in sorted(self._registered.items())
            if (s, a) not in configured
        ]
        return out


def _c(
    agent: Agent, verdict: Verdict, note: str, load: float = 0.0, score: float = 0.0
) -> Consideration:
    return Consideration(agent.agent_id, agent.card.name, verdict, load, score, note)
