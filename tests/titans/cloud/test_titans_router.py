"""The router: budgets under concurrency, circuit breaker, chains, local floor, redaction.

Cloud calls go through the real openai / anthropic SDKs to the local stand-ins
(titan_standins.py: starlette apps on 127.0.0.1 speaking the vendors' wire formats).
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from titan_helpers import FAKE_KEY, model_for, ticket
from titan_standins import Reply, StandIn

from titans.base import Task, TicketData
from titans.breaker import CircuitBreaker
from titans.config import TitansSettings
from titans.ledger import BudgetLedger
from titans.pricing import Price
from titans.prompts import DATA_CLOSE, DATA_OPEN, TriageOpinion

EXPENSIVE = {"gpt-4o-mini": Price(input_per_1m=1000.0, output_per_1m=1000.0)}


async def test_budget_is_never_overshot_under_20_concurrent_calls(
    openai_standin: StandIn, make_router: Any, tmp_path: Path
) -> None:
    budget = 3.0  # each call reserves ~1 USD at these prices: only a few fit at once
    r = make_router([model_for("openai", openai_standin.base_url)], tmp_path,
                    prices=EXPENSIVE, monthly_budget_usd={"acme": budget})
    results = await asyncio.gather(*(
        r.summarise("acme", ticket(ticket_id=f"T-{i}")) for i in range(20)
    ))
    cloud = [x for x in results if x.decided_by == "openai"]
    starved = [x for x in results if x.decided_by == "local"]
    assert cloud and starved
    assert all(x.fallback_reason == "budget_exceeded" for x in starved)
    assert r.ledger.committed("acme") <= budget
    assert r.ledger.spent("acme") <= budget
    assert r.ledger.spent("acme") == pytest.approx(sum(x.cost_usd for x in results))
    assert len(openai_standin.requests) == len(cloud)
    # Persisted: a new ledger on the same file sees the same spend, per tenant and per ticket.
    reopened = BudgetLedger(tmp_path / "ledger.sqlite3")
    assert reopened.spent("acme") == pytest.approx(r.ledger.spent("acme"))
    assert reopened.spent("other-tenant") == 0
    first = cloud[0].attempts[-1]
    assert first.cost_usd > 0
    assert sum(reopened.ticket_cost("acme", f"T-{i}") for i in range(20)) == pytest.approx(
        reopened.spent("acme"))


async def test_budget_reservation_is_released_when_the_call_fails(
    openai_standin: StandIn, make_router: Any
) -> None:
    openai_standin.push(Reply(status=500))
    r = make_router([model_for("openai", openai_standin.base_url)], max_retries=0)
    await r.summarise("acme", ticket())
    assert r.ledger.committed("acme") == 0


async def test_circuit_breaker_opens_then_half_opens(
    openai_standin: StandIn, anthropic_standin: StandIn, make_router: Any
) -> None:
    now = [0.0]
    breaker = CircuitBreaker(2, 30.0, clock=lambda: now[0])
    openai_standin.push(*[Reply(status=502)] * 2)
    r = make_router([model_for("openai", openai_standin.base_url),
                     model_for("anthropic", anthropic_standin.base_url)], max_retries=0)
    r._breaker = breaker
    for _ in range(3):
        result = await r.summarise("acme", ticket())
        assert result.decided_by == "anthropic"
    assert breaker.state("openai") == "open"
    assert len(openai_standin.requests) == 2  # the third call skipped the open circuit
    assert result.attempts[0].outcome == "TITAN_CIRCUIT_OPEN"
    now[0] = 31.0
    assert breaker.state("openai") == "half_open"
    result = await r.summarise("acme", ticket())  # the one trial call succeeds
    assert result.decided_by == "openai"
    assert breaker.state("openai") == "closed"


def test_breaker_half_open_failure_reopens() -> None:
    now = [0.0]
    breaker = CircuitBreaker(1, 10.0, clock=lambda: now[0])
    breaker.failure("x")
    assert not breaker.allow("x")
    now[0] = 10.0
    assert breaker.allow("x")
    assert not breaker.allow("x")  # only one trial at a time
    breaker.failure("x")
    assert breaker.state("x") == "open"


async def test_no_cloud_configured_local_answers_and_says_so(make_router: Any) -> None:
    r = make_router([])
    result = await r.summarise("acme", ticket())
    assert result.decided_by == "local"
    assert result.fallback_reason == "no_cloud_configured"
    assert "Printer not printing" in result.output.model_dump()["summary"]
    reply = await r.draft_reply("acme", ticket())
    assert reply.decided_by == "local" and "Printer not printing" in reply.output.model_dump()["reply"]
    stream = r.stream(Task.SUMMARISE, "acme", ticket())
    assert [d async for d in stream] and stream.result is not None
    assert stream.result.fallback_reason == "no_cloud_configured"


async def test_second_opinion_only_below_the_threshold(
    openai_standin: StandIn, make_router: Any
) -> None:
    r = make_router([model_for("openai", openai_standin.base_url)])
    sure = await r.triage_second_opinion("acme", ticket(), local_confidence=0.93, threshold=0.7)
    assert sure.decided_by == "local" and sure.fallback_reason == "local_confident"
    assert openai_standin.requests == []
    unsure = await r.triage_second_opinion("acme", ticket(), local_confidence=0.4, threshold=0.7)
    assert unsure.decided_by == "openai"
    assert isinstance(unsure.output, TriageOpinion)
    assert len(openai_standin.requests) == 1


async def test_pii_is_redacted_before_it_leaves_the_process(
    openai_standin: StandIn, make_router: Any
) -> None:
    body = ("Hi, I'm jane.doe@client.example, call me on +44 20 7946 0958. "
            "VPN login fails; my password: Sup3rS3cret! and key sk-live1234567890abcdefXYZ.")
    r = make_router([model_for("openai", openai_standin.base_url)])
    result = await r.summarise("acme", ticket(body=body))
    sent = json.dumps(openai_standin.requests[0]["body"])
    for secret in ("jane.doe@client.example", "7946", "Sup3rS3cret!", "sk-live1234567890"):
        assert secret not in sent
    assert "[EMAIL]" in sent and "[PHONE]" in sent and "[SECRET]" in sent
    assert result.redactions == 4
    system = openai_standin.requests[0]["body"]["messages"][0]
    assert system["role"] == "system" and "untrusted" in system["content"]
    assert DATA_OPEN not in system["content"].split("markers")[1].split(DATA_CLOSE)[-1]
    assert "VPN login fails" not in system["content"]


async def test_chains_are_per_tenant_and_task(
    openai_standin: StandIn, anthropic_standin: StandIn, make_router: Any
) -> None:
    chains = {"acme": {"summarise": ["anthropic", "local"]}, "*": {"summarise": ["openai"]}}
    r = make_router([model_for("openai", openai_standin.base_url),
                     model_for("anthropic", anthropic_standin.base_url)], chains=chains)
    assert (await r.summarise("acme", ticket())).decided_by == "anthropic"
    assert (await r.summarise("globex", ticket())).decided_by == "openai"
    assert (await r.draft_reply("acme", ticket())).decided_by == "openai"  # no chain: all, in order


async def test_keys_are_never_logged(
    openai_standin: StandIn, make_router: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    openai_standin.push(Reply(status=401), Reply(status=500))
    r = make_router([model_for("openai", openai_standin.base_url)], max_retries=0)
    await r.summarise("acme", ticket())
    await r.summarise("acme", ticket())
    secret = FAKE_KEY.get_secret_value()
    assert secret not in caplog.text
    settings = TitansSettings(openai_api_key=secret)
    assert secret not in repr(settings) and secret not in str(settings.specs())


def test_settings_read_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMEGA_TITANS_ANTHROPIC_API_KEY", "k1")
    monkeypatch.setenv("OMEGA_TITANS_COMPAT_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OMEGA_TITANS_CHAINS", '{"*": {"summarise": ["compat"]}}')
    monkeypatch.setenv("OMEGA_TITANS_MONTHLY_BUDGET_USD", '{"acme": 12.5}')
    s = TitansSettings()
    assert [spec.name for spec in s.specs()] == ["anthropic", "compat"]
    assert s.chain_for("acme", "summarise") == ["compat"]
    assert s.chain_for("acme", "draft_reply") is None
    assert s.budget_for("acme") == 12.5 and s.budget_for("x") == s.default_monthly_budget_usd


async def test_local_second_opinion_needs_the_injected_classifier(make_router: Any) -> None:
    from titans.errors import NotConfigured
    from titans.models.local import LocalModel
    from titans.prompts import build_request

    result = await make_router([]).triage_second_opinion(
        "acme", ticket(), local_confidence=0.2, threshold=0.7)
    assert result.output.model_dump()["category"] == "network"
    request = build_request(Task.TRIAGE_SECOND_OPINION, TicketData(subject="x"), canary="c")
    with pytest.raises(NotConfigured):
        await LocalModel().request(request, timeout_s=1.0)


async def test_stream_falls_back_before_the_first_delta(
    openai_standin: StandIn, anthropic_standin: StandIn, make_router: Any
) -> None:
    openai_standin.push(Reply(status=503))
    r = make_router([model_for("openai", openai_standin.base_url),
                     model_for("anthropic", anthropic_standin.base_url)])
    stream = r.stream(Task.DRAFT_REPLY, "acme", ticket())
    text = "".join([d async for d in stream])
    assert stream.result is not None and stream.result.decided_by == "anthropic"
    assert json.loads(text)["reply"]
    assert [a.outcome for a in stream.result.attempts] == ["TITAN_TRANSIENT", "ok"]
    assert r.ledger.committed("acme") == pytest.approx(stream.result.cost_usd)


async def test_requests_to_real_hosts_are_blocked(loopback_only: Any, make_router: Any) -> None:
    from titans.models.openai_chat import OpenAIChatModel, OpenAIProvider

    real = OpenAIChatModel("gpt-4o-mini", OpenAIProvider(api_key=FAKE_KEY))
    result = await make_router([real], max_retries=0).summarise("acme", ticket())
    assert result.decided_by == "local"
    assert loopback_only.violations == ["api.openai.com"]
    loopback_only.violations.clear()


async def test_an_adapter_bug_falls_back_to_local(make_router: Any) -> None:
    from titans.models.local import LocalModel

    class Broken(LocalModel):
        async def request(self, request: Any, *, timeout_s: float) -> Any:
            raise RuntimeError("adapter bug")

    r = make_router([Broken(name="broken")])
    result = await r.summarise("acme", ticket())
    assert result.decided_by == "local"
    assert [a.outcome for a in result.attempts] == ["TITAN_UNEXPECTED", "ok"]
    assert r.ledger.committed("acme") == 0
