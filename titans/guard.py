"""Guards around an untrusted ticket: scan it for injection before, validate the answer after.

Input side: :func:`scan_ticket` flags instruction-like text and pulls out values the ticket tries
to force ("set priority to P1"). Output side: :func:`validate_output` accepts exactly one JSON
object with exactly the requested fields, and rejects tool calls, leaked instructions (the
canary), links that were not in the ticket, values outside the allowed labels and values that the
ticket itself demanded. A rejected answer never reaches the caller; the router moves on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from titans.base import ModelResponse, Task, TicketData, TitanRequest
from titans.errors import BadResponse, OutputRejected

_FLAGS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("override_instructions", re.compile(
        r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instructions?|prompts?|rules|guidelines"
        r"|above|previous)\b", re.I | re.S)),
    ("fake_system", re.compile(
        r"(</?\s*(system|assistant|developer)\s*>|\[/?INST\]|<\|im_start\|>|^\s*#+\s*system\b"
        r"|\bsystem\s*(prompt|message|override)\s*:|\bnew instructions\b|\byou are now\b"
        r"|\bdeveloper mode\b|TICKET_DATA)", re.I | re.M)),
    ("tool_request", re.compile(
        r"\b(call|invoke|use|run|execute|trigger)\b.{0,30}\b(tool|function|api|action)\b"
        r"|\b[a-z]+_(ticket|user|account|password)\s*\(", re.I | re.S)),
    ("exfiltration", re.compile(
        r"\b(reveal|print|show|repeat|output|include|leak|dump|translate)\b.{0,40}"
        r"\b(system prompt|instructions|api[ _-]?keys?|secrets?|credentials|passwords?|tokens?"
        r"|details)\b"
        r"|\b(send|post|forward|upload|e-?mail|exfiltrate)\b.{0,60}"
        r"(https?://|www\.|\bto \S+@|\bto \[EMAIL\])"
        r"|!\[[^\]]*\]\(", re.I | re.S)),
    ("output_steering", re.compile(
        r"\b(in|to|into)\s+(your|the)\s+(json|answer|output|reply|response|summary)\b"
        r"|\"\s*,\s*\"\w+\"\s*:", re.I)),
)
_FIELD_DEMAND = re.compile(
    r"\b(?:set|change|make|mark|update|escalate|classify|put)\b\s+(?:the\s+|this\s+)?"
    r"(?:ticket'?s?\s+)?(?P<field>priority|category|queue|status|technician|assignee)"
    r"\s*(?:to|=|as|:)\s*[\"']?(?P<value>[\w\-]+)",
    re.I,
)
_LINK = re.compile(r"(https?://[^\s)\"'<>]+|www\.[^\s)\"'<>]+)", re.I)
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_TOOL_TEXT = re.compile(
    r"\b(function_call|tool_calls?|tool_use)\b|\"arguments\"\s*:|\b(close|delete|reassign|escalate|"
    r"update|reset)_[a-z_]+\s*\(",
    re.I,
)


@dataclass(frozen=True)
class InjectionScan:
    """What the input scan found in a ticket."""

    flags: tuple[str, ...] = ()
    demanded: dict[str, str] = field(default_factory=dict)

    @property
    def suspicious(self) -> bool:
        return bool(self.flags)


def scan_ticket(ticket: TicketData) -> InjectionScan:
    """Flag instruction-like text in the ticket and the field values it tries to force."""
    text = f"{ticket.subject}\n{ticket.body}"
    flags = [name for name, pattern in _FLAGS if pattern.search(text)]
    demanded = {m.group("field").lower(): m.group("value") for m in _FIELD_DEMAND.finditer(text)}
    if demanded:
        flags.append("field_change")
    return InjectionScan(flags=tuple(flags), demanded=demanded)


def _strip_fence(text: str) -> str:
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        if body.rstrip().endswith("```"):
            body = body.rstrip()[:-3]
    return body.strip()


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def validate_output(
    request: TitanRequest, response: ModelResponse, scan: InjectionScan, *, canary: str
) -> BaseModel:
    """The validated answer, or OutputRejected / BadResponse with a reason code."""
    if response.tool_calls:
        raise OutputRejected("the model tried to call a tool", reason="TITAN_TOOL_CALL")
    if request.output_type is None:
        raise BadResponse("no output type requested")
    try:
        data = json.loads(_strip_fence(response.text))
    except json.JSONDecodeError:
        raise BadResponse("the answer is not JSON", reason="TITAN_MALFORMED_JSON") from None
    if not isinstance(data, dict):
        raise BadResponse("the answer is not a JSON object", reason="TITAN_MALFORMED_JSON")
    extra = set(data) - set(request.output_type.model_fields)
    if extra:
        raise OutputRejected("the answer has fields not asked for", reason="TITAN_EXTRA_FIELDS")
    try:
        output = request.output_type.model_validate(data)
    except ValidationError:
        raise BadResponse("the answer misses the schema", reason="TITAN_SCHEMA_MISMATCH") from None
    source = f"{request.ticket.subject}\n{request.ticket.body}"
    for text in _strings(data):
        if canary and canary in text:
            raise OutputRejected("the answer leaks the instructions", reason="TITAN_PROMPT_LEAK")
        if _MD_IMAGE.search(text):
            raise OutputRejected("the answer embeds an image link", reason="TITAN_LINK")
        for link in _LINK.findall(text):
            if request.task is Task.DRAFT_REPLY:  # a reply to a customer carries no links
                raise OutputRejected("the reply contains a link", reason="TITAN_LINK")
            if link.rstrip(".,") not in source:
                raise OutputRejected("the answer links outside the ticket", reason="TITAN_LINK")
        if _TOOL_TEXT.search(text):
            raise OutputRejected("the answer spells a tool call", reason="TITAN_TOOL_CALL")
    if request.task is Task.TRIAGE_SECOND_OPINION:
        _check_labels(request.ticket, data, scan)
    return output


def _check_labels(ticket: TicketData, data: dict[str, Any], scan: InjectionScan) -> None:
    allowed = {"category": ticket.allowed_categories, "priority": ticket.allowed_priorities}
    for name, values in allowed.items():
        if values and data.get(name) not in values:
            raise OutputRejected(f"{name} is not an allowed value", reason="TITAN_LABEL")
    for name, value in scan.demanded.items():
        local = {"category": ticket.local_category, "priority": ticket.local_priority}.get(name)
        if str(data.get(name, "")).lower() == value.lower() and value.lower() != (local or "").lower():
            raise OutputRejected(
                "the answer sets a value the ticket demanded", reason="TITAN_FOLLOWS_INJECTION"
            )
