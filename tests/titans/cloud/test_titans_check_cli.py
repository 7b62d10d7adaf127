"""``omega titans check`` against stand-ins (local HTTP servers speaking the vendors' formats).

The command calls ``asyncio.run`` itself, so these tests are synchronous and the session's
stand-ins run on their own threads.
"""

from __future__ import annotations

import argparse
import json
import socket

import pytest
from titan_standins import Reply, StandIn

from titans.cli import add_titans_commands


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="omega")
    add_titans_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_check_shows_configured_and_reachable_titans(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    openai_standin: StandIn, gemini_standin: StandIn,
) -> None:
    monkeypatch.setenv("OMEGA_TITANS_OPENAI_API_KEY", "test-key-not-real")
    monkeypatch.setenv("OMEGA_TITANS_OPENAI_BASE_URL", openai_standin.base_url)
    monkeypatch.setenv("OMEGA_TITANS_GEMINI_API_KEY", "test-key-not-real")
    monkeypatch.setenv("OMEGA_TITANS_GEMINI_BASE_URL", gemini_standin.base_url)
    monkeypatch.setenv("OMEGA_TITANS_ANTHROPIC_API_KEY", "test-key-not-real")
    monkeypatch.setenv("OMEGA_TITANS_ANTHROPIC_BASE_URL", f"http://127.0.0.1:{_closed_port()}")
    gemini_standin.push(Reply(status=403))
    args = _parse(["titans", "check", "--json", "--timeout", "3"])
    assert args.func(args) == 1  # one Titan is down, one refuses the key
    rows = {r["titan"]: r for r in json.loads(capsys.readouterr().out)["titans"]}
    assert set(rows) == {"anthropic", "openai", "gemini", "local"}
    assert rows["openai"]["reachable"] is True
    assert rows["anthropic"]["reachable"] is False
    assert rows["anthropic"]["error"] == "TITAN_TRANSIENT"
    assert rows["gemini"]["error"] == "TITAN_AUTH"
    assert rows["local"]["reachable"] is True
    sent = openai_standin.requests[0]["body"]
    assert sent["max_completion_tokens"] == 1  # the cheapest possible call


def test_check_with_nothing_configured_prints_a_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = _parse(["titans", "check"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["titan", "kind", "model"]
    assert "local" in out and "openai" not in out
