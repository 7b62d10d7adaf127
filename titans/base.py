"""One interface for every Titan: a Provider owns the SDK client, a Model requests, streams and counts.

A ``TitanRequest`` keeps the instructions (``system``), the conversation (``messages``) and the
untrusted ticket text (``ticket``) apart; the vendor adapters render the ticket into a delimited
data section with :func:`titans.prompts.render_data_section`, never into the system prompt.
"""

from __future__ import annotations

import abc
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Task(StrEnum):
    """What a Titan is asked to do."""

    SUMMARISE = "summarise"
    DRAFT_REPLY = "draft_reply"
    TRIAGE_SECOND_OPINION = "triage_second_opinion"


class Message(BaseModel):
    """One turn of the conversation (never the ticket text itself)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Literal["user", "assistant"]
    content: str


class TicketData(BaseModel):
    """The untrusted ticket section of a request, already redacted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ticket_id: str = ""
    subject: str = ""
    body: str = ""
    allowed_categories: tuple[str, ...] = ()
    allowed_priorities: tuple[str, ...] = ()
    local_category: str = ""
    local_priority: str = ""
    local_confidence: float | None = None


class TitanRequest(BaseModel):
    """What is sent to a model: instructions, turns, the data section and the output schema."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    task: Task
    system: str
    messages: tuple[Message, ...] = ()
    ticket: TicketData = Field(default_factory=TicketData)
    output_type: type[BaseModel] | None = None
    max_tokens: int = 512

    def output_schema(self) -> dict[str, Any] | None:
        """The JSON schema of the structured output, strict (no extra fields)."""
        if self.output_type is None:
            return None
        return strict_schema(self.output_type)


def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A flat JSON schema: every property required, additionalProperties false."""
    schema = model.model_json_schema()
    # Only keywords every vendor's structured-output mode accepts; length and range limits are
    # still enforced, by the guard's pydantic validation of the answer.
    keep = ("type", "description", "enum")
    props = {
        name: {k: v for k, v in spec.items() if k in keep}
        for name, spec in schema.get("properties", {}).items()
    }
    return {
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class Usage:
    """Tokens a call consumed, as the vendor reported them (or estimated: ``estimated``)."""

    input_tokens: int = 0
    output_tokens: int = 0
    estimated: bool = False


@dataclass(frozen=True)
class ModelResponse:
    """A model's raw answer, before the guard validates it."""

    text: str
    usage: Usage
    model_name: str
    provider: str
    tool_calls: tuple[str, ...] = ()
    finish_reason: str = ""


@dataclass(frozen=True)
class StreamEvent:
    """One streamed piece: a text delta, or (last) the final usage."""

    delta: str = ""
    usage: Usage | None = None
    tool_calls: tuple[str, ...] = field(default_factory=tuple)


def approx_tokens(text: str, *, bytes_per_token: float = 4.0) -> int:
    """A token estimate from UTF-8 length, for vendors without a counting endpoint.

    BPE tokenizers average about 4 bytes per token on English text (the default); budget
    reservations pass ``bytes_per_token=2`` so that the estimate is an upper bound even for
    code, non-English text and pasted logs, which tokenize worse.
    """
    return math.ceil(len(text.encode("utf-8")) / bytes_per_token)


def approx_request_tokens(
    request: TitanRequest, data_section: str, *, bytes_per_token: float = 4.0
) -> int:
    """Estimated prompt tokens of a whole request (system, turns, data section, schema)."""
    parts = [request.system, data_section, *(m.content for m in request.messages)]
    schema = request.output_schema()
    if schema is not None:
        parts.append(str(schema))
    per_message = 8 * (len(request.messages) + 2)
    return sum(approx_tokens(p, bytes_per_token=bytes_per_token) for p in parts) + per_message


class Provider(abc.ABC):
    """Owns one vendor SDK client (inject your own for tests or custom transports)."""

    name: str

    @property
    @abc.abstractmethod
    def base_url(self) -> str:
        """Where the client sends requests (shown by ``omega titans check``; never the key)."""

    async def aclose(self) -> None:
        """Close the SDK client's connections."""
        return None


class Model(abc.ABC):
    """A named model behind a provider."""

    #: The configured Titan's name (``openai``, ``claude``, ``my-vllm``); recorded as decided_by.
    name: str
    model_name: str
    #: True when ``count_tokens`` asks the vendor; False when it is :func:`approx_tokens`.
    exact_token_count: bool = False

    @abc.abstractmethod
    async def request(self, request: TitanRequest, *, timeout_s: float) -> ModelResponse:
        """One complete answer; raises a :class:`titans.errors.TitanError`."""

    @abc.abstractmethod
    def request_stream(self, request: TitanRequest, *, timeout_s: float) -> AsyncIterator[StreamEvent]:
        """Text deltas as they come, then one event with the usage."""

    async def count_tokens(self, request: TitanRequest, *, timeout_s: float = 10.0) -> int:
        """Prompt tokens of ``request``: approximate unless the vendor has an endpoint."""
        from titans.prompts import render_data_section

        return approx_request_tokens(request, render_data_section(request.ticket))

    async def ping(self, *, timeout_s: float) -> ModelResponse:
        """The cheapest real call (one output token) to show the Titan is reachable."""
        probe = TitanRequest(
            task=Task.SUMMARISE, system="Reply with the word ok.",
            messages=(Message(role="user", content="ping"),), max_tokens=1,
        )
        return await self.request(probe, timeout_s=timeout_s)

    async def aclose(self) -> None:
        """Release the provider's connections."""
        return None
