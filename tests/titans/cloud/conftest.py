"""Fixtures for the cloud Titan tests: stand-in servers and a guard that keeps traffic local.

No test here can reach a real model: every vendor key and OMEGA_TITANS_* variable is removed,
and every request any httpx/httpx2 client sends is checked to go to 127.0.0.1 (a request to any
other host is recorded and refused, and the test fails at teardown).
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from titan_helpers import router  # noqa: E402
from titan_standins import StandIn, serve_in_thread  # noqa: E402

from titans.router import TitanRouter  # noqa: E402

_VENDOR_ENV = (
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
    "ANTHROPIC_AUTH_TOKEN", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_CLOUD_PROJECT", "XAI_API_KEY",
)


class LoopbackOnly:
    """Records requests to hosts other than 127.0.0.1 (and refuses them)."""

    def __init__(self) -> None:
        self.violations: list[str] = []

    def check(self, request: Any, module: Any) -> None:
        host = request.url.host
        if host != "127.0.0.1":
            self.violations.append(str(host))
            # Fail the way an unreachable network fails, before any byte leaves.
            raise module.ConnectError(f"blocked in tests: {host}", request=request)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackOnly]:
    for name in list(os.environ):
        if name.startswith("OMEGA_TITANS_") or name in _VENDOR_ENV:
            monkeypatch.delenv(name, raising=False)
    guard = LoopbackOnly()
    for module_name in ("httpx", "httpx2"):
        module = pytest.importorskip(module_name)
        for cls_name in ("AsyncClient", "Client"):
            cls = getattr(module, cls_name)
            original = cls.send

            def send(
                self: Any, request: Any, *a: Any, _orig: Any = original, _mod: Any = module,
                **kw: Any,
            ) -> Any:
                guard.check(request, _mod)
                return _orig(self, request, *a, **kw)

            monkeypatch.setattr(cls, "send", send)
    yield guard
    assert guard.violations == [], f"non-loopback hosts were contacted: {guard.violations}"


@pytest.fixture(scope="session")
def _standin_servers() -> Iterator[dict[str, StandIn]]:
    """One stand-in per vendor for the whole session, each on its own thread and port."""
    with serve_in_thread("openai") as o, serve_in_thread("anthropic") as a, \
            serve_in_thread("gemini") as g:
        yield {"openai": o, "anthropic": a, "gemini": g}


def _fresh(servers: dict[str, StandIn], vendor: str) -> Iterator[StandIn]:
    standin = servers[vendor]
    standin.reset()
    yield standin
    standin.reset()


@pytest.fixture
def openai_standin(_standin_servers: dict[str, StandIn]) -> Iterator[StandIn]:
    yield from _fresh(_standin_servers, "openai")


@pytest.fixture
def anthropic_standin(_standin_servers: dict[str, StandIn]) -> Iterator[StandIn]:
    yield from _fresh(_standin_servers, "anthropic")


@pytest.fixture
def gemini_standin(_standin_servers: dict[str, StandIn]) -> Iterator[StandIn]:
    yield from _fresh(_standin_servers, "gemini")


@pytest.fixture
async def make_router() -> AsyncIterator[Callable[..., TitanRouter]]:
    """``titan_helpers.router`` whose SDK clients are closed when the test ends."""
    made: list[TitanRouter] = []

    def make(*args: Any, **kwargs: Any) -> TitanRouter:
        made.append(router(*args, **kwargs))
        return made[-1]

    yield make
    for r in made:
        await r.aclose()
