"""Local wake-ups shared by every bus adapter: workers of this process that wait for work, and
listeners told of each local publish (the Capacity Manager, to start a scaled-to-zero team)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


class LocalWakeups:
    """``notify`` after a local publish; ``wait`` until one (or the timeout)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._listeners: list[Callable[[], None]] = []

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` on every local publish (it must be cheap and must not block)."""
        self._listeners.append(listener)

    def notify(self) -> None:
        self._event.set()
        for listener in self._listeners:
            try:
                listener()
            except Exception:  # noqa: BLE001 - a listener must never fail a publish
                log.exception("bus wake-up listener failed")

    async def wait(self, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout_s)
        self._event.clear()
