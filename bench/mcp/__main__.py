"""bench/mcp: MCP tool calls over streamable HTTP vs the same calls directly over gRPC.

Run: ``python -m bench.mcp`` (``--quick`` for a short run). ``omega up`` runs in its own process
(data kept in bench/out/mcp so the demo model is trained once); the load generator runs here.
Ten concurrent clients each hold their own connection (an MCP session over HTTP with a bearer
token, or an OmegaClient channel) and call in a closed loop. Rounds alternate MCP and gRPC;
figures are medians over rounds:
- ``get_ticket`` (a read: the MCP layer's overhead dominates) and ``triage_ticket`` (model
  inference on the server dominates), throughput in calls/s and P50/P95 latency;
- the same-run ratios MCP/gRPC for throughput and P95.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import tomllib
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bench.common import REPO, emit, free_port, summary_ms
from sdk.client import OmegaClient

OUT = REPO / "bench" / "out" / "mcp"
CLIENTS = 10
TRIAGE_TEXT = "Outlook keeps asking for my password since this morning on my laptop"
Call = Callable[[], Awaitable[Any]]


async def closed_loop(
    calls: list[Call], duration_s: float, warmup_s: float
) -> tuple[float, list[float]]:
    """Each caller loops until the deadline; returns (calls/s in the window, latencies in s)."""
    latencies: list[float] = []
    start = time.perf_counter()
    measure_from, stop_at = start + warmup_s, start + warmup_s + duration_s

    async def worker(call: Call) -> None:
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            await call()
            t1 = time.perf_counter()
            if t0 >= measure_from and t1 <= stop_at:
                latencies.append(t1 - t0)

    await asyncio.gather(*(worker(c) for c in calls))
    return len(latencies) / duration_s, latencies


async def check_mcp(result: Any) -> None:
    if result.is_error:
        raise RuntimeError(f"tool call failed: {result.content[0].text}")


async def run_mcp(
    url: str, token: str, tool: str, args: dict[str, Any], duration_s: float, warmup_s: float
) -> tuple[float, list[float]]:
    """Ten MCP sessions, each with its own HTTP connection pool, calling ``tool``."""
    async with AsyncExitStack() as stack:
        sessions: list[Client] = []
        for _ in range(CLIENTS):
            http = await stack.enter_async_context(
                httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
            )
            sessions.append(
                await stack.enter_async_context(
                    Client(streamable_http_client(url, http_client=http))
                )
            )

        async def one(c: Client) -> None:
            await check_mcp(await c.call_tool(tool, args))

        return await closed_loop([lambda c=c: one(c) for c in sessions], duration_s, warmup_s)


async def run_grpc(
    target: str, method: str, kwargs: dict[str, Any], duration_s: float, warmup_s: float
) -> tuple[float, list[float]]:
    clients = [
        OmegaClient(target, tenant="default", technician="technician", timeout_s=60.0)
        for _ in range(CLIENTS)
    ]
    try:
        calls = [lambda c=c: getattr(c, method)(**kwargs) for c in clients]
        return await closed_loop(calls, duration_s, warmup_s)
    finally:
        for c in clients:
            await c.close()


def start_omega(data: Path, grpc_port: int, http_port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        OMEGA_GRPC_ADDR=f"127.0.0.1:{grpc_port}",
        OMEGA_HTTP_ADDR=f"127.0.0.1:{http_port}",
        OMEGA_DATA_DIR=str(data),
        OMEGA_LOG_LEVEL="WARNING",
    )
    omega = str(Path(sys.executable).with_name("omega"))
    log = (OUT / "omega.log").open("wb")
    return subprocess.Popen([omega, "up"], env=env, stdout=log, stderr=log)


async def wait_up(client: OmegaClient, timeout_s: float = 300.0) -> str:
    """Wait (bounded) until ``omega up`` answers and has triaged one ticket; returns its id."""
    payload = json.dumps(
        {
            "id": "BENCH-MCP-1",
            "title": "Printer jam",
            "description": "paper jam on floor 2",
            "version": "1",
            "event": "created",
        }
    ).encode()
    async with asyncio.timeout(timeout_s):
        await client.wait_ready(timeout_s)
        ticket_id = (await client.ingest_ticket(payload)).ticket_id
        while True:
            if (await client.get_ticket(ticket_id)).triage.model_version:
                break
            await asyncio.sleep(0.2)  # polls the pipeline's state; bounded by the timeout
    return ticket_id


def median_round(rounds: list[tuple[float, list[float]]]) -> dict[str, float]:
    stats = [summary_ms(lat) for _, lat in rounds]
    return {
        "calls_per_s": round(statistics.median(r[0] for r in rounds), 1),
        "p50_ms": round(statistics.median(s["p50_ms"] for s in stats), 2),
        "p95_ms": round(statistics.median(s["p95_ms"] for s in stats), 2),
        "calls": sum(len(lat) for _, lat in rounds),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    OUT.mkdir(parents=True, exist_ok=True)
    grpc_port, http_port = free_port(), free_port()
    proc = start_omega(OUT / "data", grpc_port, http_port)
    target, base = f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{http_port}"
    duration, warmup = (2.0, 0.5) if args.quick else (args.seconds, 1.0)
    rounds = 1 if args.quick else args.rounds
    try:
        async with OmegaClient(target, timeout_s=60) as admin:
            ticket_id = await wait_up(admin)
        token = tomllib.loads((OUT / "data" / "mcp_tokens.toml").read_text())["tokens"]["local"][
            "token"
        ]
        # (MCP tool and arguments, OmegaClient method and arguments, window multiplier, rounds):
        # a triage call costs the server 10-400 ms of CPU (MiniLM + heads; it varies with the
        # machine's load), so with 10 clients its window is longer and it runs one round each.
        cases = {
            "get_ticket": (
                ("get_ticket", {"ticket_id": ticket_id}),
                ("get_ticket", {"ticket_id": ticket_id}),
                1.0,
                rounds,
            ),
            "triage_ticket": (
                ("triage_ticket", {"text": TRIAGE_TEXT}),
                ("triage_ticket", {"description": TRIAGE_TEXT}),
                4.0,
                1,
            ),
        }
        figures: dict[str, Any] = {"clients": CLIENTS}
        for name, ((tool, tool_args), (method, kwargs), scale, n_rounds) in cases.items():
            mcp_rounds, grpc_rounds = [], []
            window, lead = duration * scale, warmup * scale
            for _ in range(n_rounds):
                mcp_rounds.append(
                    await run_mcp(f"{base}/mcp", token, tool, tool_args, window, lead)
                )
                grpc_rounds.append(await run_grpc(target, method, kwargs, window, lead))
            m, g = median_round(mcp_rounds), median_round(grpc_rounds)
            ratio_tput = round(m["calls_per_s"] / g["calls_per_s"], 3) if g["calls_per_s"] else None
            ratio_p95 = round(m["p95_ms"] / g["p95_ms"], 2) if g["p95_ms"] else None
            print(
                f"{name:14s} MCP/HTTP {m['calls_per_s']:7.1f} calls/s  P50 {m['p50_ms']:7.2f} ms  "
                f"P95 {m['p95_ms']:7.2f} ms"
            )
            print(
                f"{'':14s} gRPC     {g['calls_per_s']:7.1f} calls/s  P50 {g['p50_ms']:7.2f} ms  "
                f"P95 {g['p95_ms']:7.2f} ms"
            )
            print(f"{'':14s} ratio MCP/gRPC: throughput {ratio_tput}, P95 {ratio_p95}")
            figures[name] = {
                "rounds": n_rounds,
                "seconds_per_round": window,
                "mcp_http": m,
                "grpc": g,
                "throughput_ratio": ratio_tput,
                "p95_ratio": ratio_p95,
            }
        return figures
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.mcp", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one short round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per round")
    args = parser.parse_args()
    print(
        f"bench/mcp: {CLIENTS} concurrent clients, tool calls over streamable HTTP vs direct gRPC"
    )
    emit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
