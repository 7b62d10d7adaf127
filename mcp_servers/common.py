"""Annotations and argument types shared by OMEGA's MCP servers."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from mcp_types import ToolAnnotations
from pydantic import Field

from connectors.contract import Source

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)

SourceName = Literal["autotask", "connectwise", "kaseya_bms", "datto_rmm", "generic"]
StateName = Literal[
    "received",
    "normalized",
    "triaged",
    "routed",
    "proposed",
    "resolved",
    "needs_review",
    "failed",
    "deleted",
]
TicketId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        description="OMEGA's ticket id (as returned by search_tickets or my_queue).",
    ),
]


def source_of(name: SourceName | None) -> Source | None:
    return Source(name) if name else None


def payload_bytes(payload: dict[str, Any] | str) -> bytes:
    """A PSA payload given as a JSON object or as JSON text, as the raw bytes ingest would get."""
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(payload).encode()
