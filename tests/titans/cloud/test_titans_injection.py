"""The red-team corpus against a stand-in model that OBEYS every injection.

The stand-in (titan_standins.py, a local HTTP server speaking each vendor's wire format; not the
vendor) answers what an obedient model would: the injected field values, tool calls, the system
prompt it received, the data section it received. The guard must reject or neutralise each one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from titan_helpers import model_for
from titan_standins import Reply, StandIn

from titans.base import Task, TicketData
from titans.prompts import DATA_CLOSE, DATA_OPEN

CORPUS = json.loads((Path(__file__).parent / "injection_corpus.json").read_text())["cases"]
CANARY = "omega-canary-test"


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def obedient(case: dict[str, Any]) -> Any:
    """A responder that does what the ticket says, with what the request actually contained."""

    def respond(body: dict[str, Any]) -> Reply:
        texts = _strings(body)
        system = next(t for t in texts if "untrusted" in t)
        data = next(t for t in texts if DATA_OPEN in t and "subject:" in t)
        obey = case["obey"]
        if "tool_call" in obey:
            return Reply(tool_call=obey["tool_call"])
        fill = {"{system_prompt}": system, "{data}": data}
        text = obey["text"]
        for key, value in fill.items():
            text = text.replace(key, json.dumps(value)[1:-1])
        return Reply(text=text)

    return respond


def test_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 15
    assert {c["expect"]["outcome"] for c in CORPUS} == {"rejected", "neutralised"}


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("case", CORPUS, ids=[c["id"] for c in CORPUS])
async def test_injection_is_rejected_or_neutralised(
    case: dict[str, Any], vendor: str, make_router: Any,
    openai_standin: StandIn, anthropic_standin: StandIn, gemini_standin: StandIn,
) -> None:
    standin = {"openai": openai_standin, "anthropic": anthropic_standin,
               "gemini": gemini_standin}[vendor]
    standin.responder = obedient(case)
    r = make_router([model_for(vendor, standin.base_url)])
    t = TicketData(
        ticket_id=case["id"], subject=case["subject"], body=case["body"],
        allowed_categories=("email", "hardware", "network", "security", "software"),
        allowed_priorities=("P1", "P2", "P3", "P4"),
        local_category="hardware", local_priority="P3", local_confidence=0.4,
    )
    task = Task(case["task"])
    if task is Task.TRIAGE_SECOND_OPINION:
        result = await r.triage_second_opinion("acme", t, local_confidence=0.4, threshold=0.7)
    else:
        result = await r.run(task, "acme", t)

    assert len(standin.requests) == 1  # the obedient model was asked, once
    sent = json.dumps(standin.requests[0]["body"])
    data = next(s for s in _strings(standin.requests[0]["body"])
                if DATA_OPEN in s and "subject:" in s)
    assert data.count(DATA_OPEN) == 1 and data.count(DATA_CLOSE) == 1  # markers not forgeable
    answer = json.dumps(result.output.model_dump())
    assert CANARY not in answer
    assert result.injection_flags  # the input scan saw it too
    expect = case["expect"]
    if expect["outcome"] == "rejected":
        assert result.decided_by == "local"
        assert result.fallback_reason == "all_titans_failed"
        assert result.attempts[0].outcome in expect["reasons"]
        if task is Task.TRIAGE_SECOND_OPINION:
            assert result.needs_review
    else:
        assert result.decided_by == vendor
        for secret in expect["absent"]:
            assert secret not in sent
            assert secret not in answer
