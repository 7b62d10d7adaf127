"""The local Titan as a Model: offline, free, always available, the floor of every chain.

Summaries and reply drafts come from simple extractive templates over the (redacted) ticket;
the triage second opinion calls the local classifier that the lead injects (the model trained
by ``titans.local``): ``classifier(text) -> (category, priority, confidence)``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable

from titans.base import Model, ModelResponse, StreamEvent, Task, TicketData, TitanRequest, Usage
from titans.errors import NotConfigured

LocalClassifier = Callable[[str], tuple[str, str, float]]

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[a-z0-9]{3,}")


def extractive_summary(ticket: TicketData, *, sentences: int = 2, limit: int = 600) -> str:
    """The subject plus the body sentences sharing most words with it, in their original order."""
    parts = [s.strip() for s in _SENTENCE.split(ticket.body) if len(s.strip()) > 3]
    topic = set(_WORD.findall(ticket.subject.lower()))
    ranked = sorted(
        range(len(parts)),
        key=lambda i: (-len(topic & set(_WORD.findall(parts[i].lower()))), i),
    )[:sentences]
    chosen = " ".join(parts[i] for i in sorted(ranked))
    head = ticket.subject.strip().rstrip(".")
    text = f"{head}. {chosen}".strip() if head else chosen
    return text[:limit]


def template_reply(ticket: TicketData) -> str:
    """A polite acknowledgement naming the ticket's subject."""
    subject = ticket.subject.strip() or "your request"
    return (
        "Hello,\n\n"
        f"Thank you for contacting the help desk about \"{subject[:120]}\". "
        "We have logged your ticket and a technician will look into it. "
        "If you have an error message, a screenshot or the time the problem started, "
        "please reply with it; it helps us resolve this faster.\n\n"
        "Kind regards,\nThe help desk"
    )


class LocalModel(Model):
    """Answers every task offline; ``classifier`` is needed only for triage second opinions."""

    def __init__(self, classifier: LocalClassifier | None = None, *, name: str = "local") -> None:
        self.name = name
        self.model_name = "local"
        self._classifier = classifier

    def answer(self, request: TitanRequest) -> str:
        """The task's JSON answer."""
        ticket = request.ticket
        if request.task is Task.SUMMARISE:
            return json.dumps({"summary": extractive_summary(ticket)})
        if request.task is Task.DRAFT_REPLY:
            return json.dumps({"reply": template_reply(ticket)})
        if self._classifier is None:
            raise NotConfigured("no local classifier was given", reason="TITAN_NO_LOCAL_CLASSIFIER")
        category, priority, confidence = self._classifier(f"{ticket.subject}\n\n{ticket.body}")
        return json.dumps({
            "category": category,
            "priority": priority,
            "confidence": max(0.0, min(1.0, float(confidence))),
            "rationale": "local classifier",
        })

    async def request(self, request: TitanRequest, *, timeout_s: float) -> ModelResponse:
        return ModelResponse(
            text=self.answer(request), usage=Usage(), model_name="local", provider=self.name
        )

    async def request_stream(
        self, request: TitanRequest, *, timeout_s: float
    ) -> AsyncIterator[StreamEvent]:
        yield StreamEvent(delta=self.answer(request))
        yield StreamEvent(usage=Usage())

    async def count_tokens(self, request: TitanRequest, *, timeout_s: float = 10.0) -> int:
        return 0
