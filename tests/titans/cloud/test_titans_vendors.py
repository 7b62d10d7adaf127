"""Each vendor's REAL SDK against a local stand-in that speaks that vendor's wire format.

The stand-ins (tests/titans/cloud/titan_standins.py) are not the vendors: starlette apps on
127.0.0.1, port 0, answering with bodies shaped like the vendors' documented JSON and SSE.
Grok and the OpenAI-compatible adapter use the openai SDK, so they run against the OpenAI one.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from titan_helpers import model_for, ticket
from titan_standins import Reply, StandIn

from titans.base import Task
from titans.prompts import DATA_CLOSE, DATA_OPEN, Summary

VENDORS = ["openai", "anthropic", "gemini", "grok", "compat"]
WIRE = {"openai": "openai", "grok": "openai", "compat": "openai",
        "anthropic": "anthropic", "gemini": "gemini"}


@pytest.fixture
def standins(
    openai_standin: StandIn, anthropic_standin: StandIn, gemini_standin: StandIn
) -> dict[str, StandIn]:
    return {"openai": openai_standin, "anthropic": anthropic_standin, "gemini": gemini_standin}


def _generation_requests(standin: StandIn) -> list[dict[str, Any]]:
    return [r for r in standin.requests if "count" not in r["path"].lower()]


@pytest.mark.parametrize("vendor", VENDORS)
async def test_request_returns_validated_structured_output(
    vendor: str, standins: dict[str, StandIn], make_router: Any
) -> None:
    standin = standins[WIRE[vendor]]
    model = model_for(vendor, standin.base_url)
    result = await make_router([model]).summarise("acme", ticket())
    assert result.decided_by == model.name
    assert isinstance(result.output, Summary)
    assert result.fallback_reason is None
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    assert result.cost_usd > 0
    sent = json.dumps(_generation_requests(standin)[0]["body"])
    assert DATA_OPEN in sent and DATA_CLOSE in sent
    assert '"additionalProperties": false' in sent  # the strict schema went out
    headers = _generation_requests(standin)[0]["headers"]
    assert "test-key-not-real" in json.dumps(headers) or vendor == "compat"


@pytest.mark.parametrize("vendor", VENDORS)
async def test_stream_yields_deltas_then_validated_result(
    vendor: str, standins: dict[str, StandIn], make_router: Any
) -> None:
    standin = standins[WIRE[vendor]]
    model = model_for(vendor, standin.base_url)
    stream = make_router([model]).stream(Task.SUMMARISE, "acme", ticket())
    deltas = [d async for d in stream]
    assert len(deltas) > 1
    assert stream.result is not None
    assert stream.result.decided_by == model.name
    assert json.loads("".join(deltas)) == stream.result.output.model_dump()
    assert stream.result.usage.output_tokens > 0 and not stream.result.usage.estimated


@pytest.mark.parametrize("vendor", VENDORS)
async def test_rate_limit_is_retried_after_retry_after(
    vendor: str, standins: dict[str, StandIn], make_router: Any
) -> None:
    standin = standins[WIRE[vendor]]
    standin.push(Reply(status=429, headers={"retry-after": "0.25"}))
    delays: list[float] = []

    async def record(delay: float) -> None:
        delays.append(delay)

    r = make_router([model_for(vendor, standin.base_url)])
    r._sleep = record
    result = await r.summarise("acme", ticket())
    assert [a.outcome for a in result.attempts] == ["TITAN_RATE_LIMITED", "ok"]
    assert result.decided_by != "local"
    assert 0.25 <= delays[0] <= 0.3
    assert len(_generation_requests(standin)) == 2


@pytest.mark.parametrize("vendor", VENDORS)
async def test_server_errors_fall_back_to_next_provider(
    vendor: str, standins: dict[str, StandIn], make_router: Any
) -> None:
    primary = standins[WIRE[vendor]]
    secondary_vendor = "anthropic" if WIRE[vendor] == "openai" else "openai"
    secondary = standins[secondary_vendor]
    primary.push(*[Reply(status=503)] * 3)
    first = model_for(vendor, primary.base_url, name="primary")
    second = model_for(secondary_vendor, secondary.base_url, name="secondary")
    result = await make_router([first, second], max_retries=2).summarise("acme", ticket())
    assert result.decided_by == "secondary"
    assert [a.outcome for a in result.attempts] == ["TITAN_TRANSIENT"] * 3 + ["ok"]
    assert len(_generation_requests(primary)) == 3


@pytest.mark.parametrize("vendor", VENDORS)
async def test_timeout_moves_on_to_local(
    vendor: str, standins: dict[str, StandIn], make_router: Any
) -> None:
    standin = standins[WIRE[vendor]]
    standin.push(Reply(hang=True))
    r = make_router([model_for(vendor, standin.base_url)], timeout_s=0.3, max_retries=0)
    result = await r.summarise("acme", ticket())
    assert result.decided_by == "local"
    assert result.fallback_reason == "all_titans_failed"
    assert result.attempts[0].outcome == "TITAN_TIMEOUT"
    # A timed-out call may be billed for its prompt: the ledger charged the estimate.
    assert r.ledger.spent("acme") > 0


@pytest.mark.parametrize("vendor", VENDORS)
async def test_malformed_json_is_rejected_without_retry(
    vendor: str, standins: dict[str, StandIn], make_router: Any
) -> None:
    standin = standins[WIRE[vendor]]
    standin.push(Reply(text='{"summary": "unterminated'))
    result = await make_router([model_for(vendor, standin.base_url)]).summarise("acme", ticket())
    assert result.decided_by == "local"
    assert result.attempts[0].outcome == "TITAN_MALFORMED_JSON"
    assert len(_generation_requests(standin)) == 1


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize(("status", "reason"), [(401, "TITAN_AUTH"), (400, "TITAN_INVALID_REQUEST")])
async def test_client_errors_are_never_retried(
    vendor: str, status: int, reason: str, standins: dict[str, StandIn], make_router: Any
) -> None:
    standin = standins[WIRE[vendor]]
    standin.push(Reply(status=status))
    result = await make_router([model_for(vendor, standin.base_url)]).summarise("acme", ticket())
    assert [a.outcome for a in result.attempts] == [reason, "ok"]
    assert result.decided_by == "local"
    assert len(_generation_requests(standin)) == 1


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "gemini"])
async def test_tool_calls_are_rejected(
    vendor: str, standins: dict[str, StandIn], make_router: Any
) -> None:
    standin = standins[vendor]
    standin.push(Reply(tool_call="close_ticket"))
    result = await make_router([model_for(vendor, standin.base_url)]).summarise("acme", ticket())
    assert result.decided_by == "local"
    assert result.attempts[0].outcome == "TITAN_TOOL_CALL"


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "gemini"])
async def test_count_tokens(
    vendor: str, standins: dict[str, StandIn], make_router: Any
) -> None:
    from titans.prompts import build_request

    standin = standins[vendor]
    model = model_for(vendor, standin.base_url)
    request = build_request(Task.SUMMARISE, ticket(), canary="c")
    count = await model.count_tokens(request)
    await model.aclose()
    assert count > 50
    counted_remotely = any("count" in r["path"].lower() for r in standin.requests)
    assert counted_remotely == model.exact_token_count == (vendor != "openai")
