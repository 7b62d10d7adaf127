"""The shadow step: consumes ``ticket.triaged`` and has the technician's shadow agent prepare it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from teams.shadow.service import ShadowService
from teams.triage.step import TOPIC_TRIAGED


class ShadowStep:
    """Idempotent: the ticket's state (TRIAGED/NEEDS_REVIEW → ROUTED → PROPOSED) is the guard."""

    name = TOPIC_TRIAGED

    def __init__(self, service: ShadowService) -> None:
        self._service = service

    async def handle(self, body: Mapping[str, Any]) -> str:
        return await self._service.prepare(str(body["tenant"]), str(body["ticket_id"]))
