"""The executor port: runs (or records) a runbook, and undoes it.

No RMM is reachable from the embedded mode, so the default ``RecordingExecutor`` records what
would run and returns an undo handle; an RMM/PSA executor (Datto RMM job, Kaseya VSA procedure,
…) implements the same two methods and is injected into ``ShadowService``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from backends.ids import new_id
from teams.shadow.runbooks import Runbook


@dataclass(frozen=True)
class Execution:
    """What an executor did: an id it can undo by, what it ran, and whether it succeeded."""

    id: str
    runbook: str
    ok: bool
    summary: str
    executor: str
    dry_run: bool = False
    detail: dict[str, Any] = field(default_factory=dict)


class RunbookExecutor(Protocol):
    name: str

    async def run(
        self, tenant: str, runbook: Runbook, params: Mapping[str, str], *, dry_run: bool = False
    ) -> Execution: ...

    async def undo(self, tenant: str, runbook: Runbook, execution: Mapping[str, Any]) -> Execution: ...


class RecordingExecutor:
    """Records what would run (the embedded default: no real RMM here)."""

    name = "recording"

    def __init__(self) -> None:
        self.runs: list[tuple[str, str, dict[str, str]]] = []
        self.undone: list[str] = []

    async def run(
        self, tenant: str, runbook: Runbook, params: Mapping[str, str], *, dry_run: bool = False
    ) -> Execution:
        summary = ("dry run: would " if dry_run else "recorded (no RMM configured): ") + runbook.describe(params)
        if not dry_run:
            self.runs.append((tenant, runbook.name, dict(params)))
        return Execution(
            id=new_id("exe"), runbook=runbook.name, ok=True, summary=summary, executor=self.name,
            dry_run=dry_run, detail={"recorded_at": time.time()},
        )

    async def undo(self, tenant: str, runbook: Runbook, execution: Mapping[str, Any]) -> Execution:
        params = execution.get("params", {}) if isinstance(execution.get("params"), Mapping) else {}
        self.undone.append(str(execution.get("id", "")))
        return Execution(
            id=new_id("exe"), runbook=runbook.name, ok=True,
            summary="recorded undo: " + runbook.describe_undo(params), executor=self.name,
            detail={"undoes": execution.get("id", "")},
        )
