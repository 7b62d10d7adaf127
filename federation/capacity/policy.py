"""The scaling formula: from queue metrics to a team's desired number of workers.

For a team with policy (min, max, μ = messages one worker handles per second, T = drain target,
A_max = oldest-age limit, C = idle cool-down, W = scale-down window) and metrics
(D = queue depth, A = oldest message age, λ = arrival rate per second), at time t:

    need = ceil((λ + D / T) / μ)              keep up with arrivals and drain the backlog within T
    if D > 0 and A > A_max: need = max(need, current + 1)          the oldest message waits too long
    if D > 0:               need = max(need, 1)                     any work wakes the team
    if D = 0 and λ = 0 (idle since t0):
        need = 0                 when t - t0 >= C                   scale to zero after the cool-down
        need = min(current, 1)   otherwise                          keep one worker through it
    rec  = clamp(need, min, max)

    desired = rec                                        when rec >= current   (scale up at once)
    desired = min                                        when idle for >= C    (the cool-down held)
    desired = min(current, max(rec over the last W s))   otherwise             (hysteresis)

Scaling up is immediate; scaling down only goes as low as the highest recommendation of the last W
seconds, so a noisy queue never makes the team flap.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from federation.errors import InvalidArgument


@dataclass(frozen=True)
class TeamPolicy:
    team: str
    min_workers: int = 0
    max_workers: int = 4
    worker_throughput: float = 1.0  # messages per second per worker (μ)
    drain_target_s: float = 60.0  # T
    max_age_s: float = 30.0  # A_max
    idle_cooldown_s: float = 300.0  # C
    scale_down_window_s: float = 60.0  # W

    def __post_init__(self) -> None:
        if not self.team:
            raise InvalidArgument("team is required", reason="BAD_TEAM_POLICY")
        if not 0 <= self.min_workers <= self.max_workers or self.max_workers < 1:
            raise InvalidArgument("need 0 <= min_workers <= max_workers, max >= 1", reason="BAD_TEAM_POLICY")
        if self.worker_throughput <= 0 or self.drain_target_s <= 0:
            raise InvalidArgument("throughput and drain target must be > 0", reason="BAD_TEAM_POLICY")


@dataclass(frozen=True)
class QueueMetrics:
    depth: int = 0
    oldest_age_s: float = 0.0
    arrival_rate: float = 0.0

    @property
    def idle(self) -> bool:
        return self.depth <= 0 and self.arrival_rate <= 1e-9


@dataclass(frozen=True)
class ScalingDecision:
    team: str
    current: int
    desired: int
    recommended: int
    reason: str
    metrics: QueueMetrics
    decided_at: float

    @property
    def active(self) -> bool:
        return self.desired > 0


@dataclass
class TeamScaler:
    """The formula plus the memory it needs (idle start, recent recommendations)."""

    policy: TeamPolicy
    idle_since: float | None = None
    history: deque[tuple[float, int]] = field(default_factory=deque)

    def decide(self, metrics: QueueMetrics, current: int, now: float) -> ScalingDecision:
        p = self.policy
        if metrics.depth < 0 or metrics.arrival_rate < 0 or metrics.oldest_age_s < 0:
            raise InvalidArgument("queue metrics must be >= 0", reason="BAD_QUEUE_METRICS")
        idle_done = False
        if metrics.idle:
            if self.idle_since is None:
                self.idle_since = now
            idle_done = now - self.idle_since >= p.idle_cooldown_s
            need = 0 if idle_done else min(current, 1)
            why = "idle, cool-down over" if idle_done else "idle, in cool-down"
        else:
            self.idle_since = None
            need = math.ceil(
                (metrics.arrival_rate + metrics.depth / p.drain_target_s) / p.worker_throughput - 1e-9
            )
            why = f"arrivals {metrics.arrival_rate:.2f}/s + backlog {metrics.depth}"
            if metrics.depth > 0 and metrics.oldest_age_s > p.max_age_s and need <= current:
                need = current + 1
                why += f", oldest {metrics.oldest_age_s:.0f}s > {p.max_age_s:.0f}s"
            if metrics.depth > 0:
                need = max(need, 1)
        rec = max(p.min_workers, min(p.max_workers, need))
        self.history.append((now, rec))
        while self.history and self.history[0][0] < now - p.scale_down_window_s:
            self.history.popleft()
        if rec >= current:
            desired = rec
            verb = "scale up" if rec > current else "hold"
        elif idle_done:
            desired = rec
            verb = "scale to minimum"
        else:
            desired = min(current, max(r for _, r in self.history))
            verb = "scale down" if desired < current else "hold (scale-down window)"
        reason = f"{verb}: {why} -> recommend {rec}, {current} -> {desired}"
        return ScalingDecision(p.team, current, desired, rec, reason, metrics, now)


class ArrivalRate:
    """Arrivals per second from a cumulative enqueued counter, over a sliding window."""

    def __init__(self, window_s: float = 60.0) -> None:
        self._window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def update(self, now: float, enqueued_total: int) -> float:
        self._samples.append((now, enqueued_total))
        while len(self._samples) > 2 and self._samples[0][0] < now - self._window_s:
            self._samples.popleft()
        (t0, n0), (t1, n1) = self._samples[0], self._samples[-1]
        return max(0.0, (n1 - n0) / (t1 - t0)) if t1 > t0 else 0.0
