"""A circuit breaker per provider: open after N consecutive failures, half-open after a cool-down.

Closed: calls pass. Open: calls are refused (the router moves on) until ``cooldown_s`` has
passed. Half-open: exactly one trial call passes; success closes the circuit, failure re-opens it.
Only provider-health failures count (rate limits, 5xx, timeouts, auth); a bad answer does not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Circuit:
    failures: int = 0
    opened_at: float | None = None
    trial_in_flight: bool = False


class CircuitBreaker:
    """Tracks every provider's circuit; the clock is injectable for tests."""

    def __init__(
        self, failures: int, cooldown_s: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._threshold = max(1, failures)
        self._cooldown = cooldown_s
        self._clock = clock
        self._circuits: dict[str, _Circuit] = {}

    def _get(self, name: str) -> _Circuit:
        return self._circuits.setdefault(name, _Circuit())

    def state(self, name: str) -> str:
        c = self._get(name)
        if c.opened_at is None:
            return "closed"
        if self._clock() - c.opened_at >= self._cooldown:
            return "half_open"
        return "open"

    def allow(self, name: str) -> bool:
        """Whether a call to ``name`` may go out now (claims the half-open trial if it is one)."""
        c = self._get(name)
        state = self.state(name)
        if state == "closed":
            return True
        if state == "half_open" and not c.trial_in_flight:
            c.trial_in_flight = True
            return True
        return False

    def success(self, name: str) -> None:
        self._circuits[name] = _Circuit()

    def release(self, name: str) -> None:
        """A call ended with neither a health failure nor a success (e.g. a bad answer)."""
        self._get(name).trial_in_flight = False

    def failure(self, name: str) -> None:
        c = self._get(name)
        c.failures += 1
        if c.trial_in_flight or c.failures >= self._threshold:
            c.opened_at = self._clock()
        c.trial_in_flight = False
