"""bench/route: RouteTask throughput and latency with 50 calls in flight, against a bare gRPC echo.

The Federation Core (with an in-process Agent Registry of ``--agents`` READY agents whose loads
change by heartbeat every 0.5 s) and a bare gRPC echo server (``bench.common.serve_echo``) each run
in their own process; the load generator runs here. Short rounds alternate echo / route so a noisy
neighbour hurts both alike. Half the routes carry an affinity key (a technician id), half do not;
a quarter of the agents are dedicated to the tenant. Figures: medians over rounds of calls/s,
P50/P95 latency of route, and the route/echo throughput ratio (target >= 0.6).

    .venv/bin/python -m bench.route [--rounds 8] [--seconds 1.5] [--in-flight 50] [--agents 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from omega.federation.v1 import federation_pb2, federation_pb2_grpc
from omega.ingest.v1 import ingest_pb2, ingest_pb2_grpc

from bench.common import REPO, closed_loop, emit, free_port, summary_ms

TARGET_RATIO = 0.6
WARMUP_S = 0.5


async def serve_route(port: int, agents: int) -> None:
    """The Federation Core on ``port`` over a registry of ``agents`` READY agents."""
    from federation.core.server import CoreDeps, create_server
    from federation.core.service import FederationCore
    from federation.registry.service import AgentCard, AgentRegistry, AgentState
    from mesh.settings import OmegaSettings

    registry = AgentRegistry(default_lease_s=30.0)
    ids = []
    for i in range(agents):
        tenants = ("acme",) if i % 4 == 0 else ()
        card = AgentCard(
            name=f"shadow-{i}", team="shadow", endpoint=f"127.0.0.1:{60000 + i}",
            capabilities=("shadow",), tenants=tenants, max_in_flight=8,
        )
        agent = await registry.register(card)
        await registry.heartbeat(agent.agent_id, state=AgentState.READY)
        ids.append(agent.agent_id)
    core = FederationCore(registry)
    settings = OmegaSettings(grpc_addr=f"127.0.0.1:{port}", log_json=False)
    srv = create_server(settings, CoreDeps(core))
    await srv.start()
    rng = random.Random(7)
    while True:  # agents report changing loads, as they would
        await asyncio.sleep(0.5)
        for agent_id in ids:
            await registry.heartbeat(agent_id, in_flight=rng.randint(0, 6))


async def wait_serving(target: str, timeout_s: float = 60.0) -> None:
    async with grpc.aio.insecure_channel(target) as ch:
        await health_pb2_grpc.HealthStub(ch).Check(
            health_pb2.HealthCheckRequest(), timeout=timeout_s, wait_for_ready=True
        )


async def echo_rate(target: str, in_flight: int, seconds: float) -> tuple[float, list[float]]:
    payload = b'{"tenant":"acme","capability":"shadow","affinity_key":"tech-0001"}'
    async with grpc.aio.insecure_channel(target) as ch:
        stub = ingest_pb2_grpc.IngestServiceStub(ch)

        async def call(i: int) -> object:
            return await stub.IngestTicket(ingest_pb2.IngestTicketRequest(payload=payload), timeout=10)

        return await closed_loop(call, in_flight=in_flight, duration_s=seconds, warmup_s=WARMUP_S)


async def route_rate(target: str, in_flight: int, seconds: float) -> tuple[float, list[float]]:
    async with grpc.aio.insecure_channel(target) as ch:
        stub = federation_pb2_grpc.FederationServiceStub(ch)

        async def call(i: int) -> object:
            req = federation_pb2.RouteTaskRequest(
                tenant="acme" if i % 3 else "globex",
                capability="shadow",
                task_id=f"task-{i}",
                affinity_key=f"tech-{i % 200:04d}" if i % 2 else "",
            )
            return await stub.RouteTask(req, timeout=10)

        return await closed_loop(call, in_flight=in_flight, duration_s=seconds, warmup_s=WARMUP_S)


def start_servers(agents: int) -> tuple[list[subprocess.Popen[bytes]], str, str]:
    """The bare echo and the Federation Core, each in its own process."""
    echo_port, route_port = free_port(), free_port()
    echo_code = f"import asyncio; from bench.common import serve_echo; asyncio.run(serve_echo({echo_port}))"
    procs = [
        subprocess.Popen([sys.executable, "-c", echo_code], cwd=REPO,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen(
            [sys.executable, "-m", "bench.route", "--serve-route", str(route_port),
             "--agents", str(agents)],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ),
    ]
    return procs, f"127.0.0.1:{echo_port}", f"127.0.0.1:{route_port}"


def stop_servers(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(
    args: argparse.Namespace, echo_target: str, route_target: str, pids: tuple[int, int]
) -> dict[str, object]:
    await wait_serving(route_target)
    async with grpc.aio.insecure_channel(echo_target) as ch:
        await ingest_pb2_grpc.IngestServiceStub(ch).IngestTicket(
            ingest_pb2.IngestTicketRequest(payload=b"{}"), timeout=60, wait_for_ready=True
        )
    echo_rates: list[float] = []
    route_rates: list[float] = []
    echo_lat: list[float] = []
    route_lat: list[float] = []
    echo_cpu: list[float] = []
    route_cpu: list[float] = []
    span = args.seconds + WARMUP_S  # CPU is read around warm-up + window; rate is steady
    for r in range(args.rounds):
        c0 = cpu_seconds(pids[0])
        e_rate, e_lat = await echo_rate(echo_target, args.in_flight, args.seconds)
        c1 = cpu_seconds(pids[1])
        r_rate, r_lat = await route_rate(route_target, args.in_flight, args.seconds)
        echo_cpu.append((cpu_seconds(pids[0]) - c0) / (e_rate * span) * 1e6)
        route_cpu.append((cpu_seconds(pids[1]) - c1) / (r_rate * span) * 1e6)
        echo_rates.append(e_rate)
        route_rates.append(r_rate)
        echo_lat += e_lat
        route_lat += r_lat
        print(f"round {r + 1}: echo {e_rate:,.0f}/s  route {r_rate:,.0f}/s  "
              f"ratio {r_rate / e_rate:.2f}")
    echo_med, route_med = statistics.median(echo_rates), statistics.median(route_rates)
    route_ms, echo_ms = summary_ms(route_lat), summary_ms(echo_lat)
    ratio = route_med / echo_med
    round_ratio = statistics.median(r / e for r, e in zip(route_rates, echo_rates, strict=True))
    print(f"RouteTask: {route_med:,.0f} calls/s (median of {args.rounds}), "
          f"P50 {route_ms['p50_ms']} ms, P95 {route_ms['p95_ms']} ms, {args.in_flight} in flight, "
          f"{args.agents} agents")
    print(f"bare echo: {echo_med:,.0f} calls/s, P50 {echo_ms['p50_ms']} ms, P95 {echo_ms['p95_ms']} ms")
    e_cpu, r_cpu = statistics.median(echo_cpu), statistics.median(route_cpu)
    print(f"server CPU per call (approx.): echo {e_cpu:.0f} us, route {r_cpu:.0f} us "
          f"(echo/route {e_cpu / r_cpu:.2f}; less sensitive to neighbours than calls/s)")
    print(f"route/echo throughput ratio: {ratio:.2f} of medians, {round_ratio:.2f} median per round "
          f"(target >= {TARGET_RATIO})")
    return {
        "bench": "route",
        "in_flight": args.in_flight,
        "agents": args.agents,
        "rounds": args.rounds,
        "route_calls_per_s": round(route_med),
        "route_p50_ms": route_ms["p50_ms"],
        "route_p95_ms": route_ms["p95_ms"],
        "echo_calls_per_s": round(echo_med),
        "echo_p95_ms": echo_ms["p95_ms"],
        "route_vs_echo_ratio": round(ratio, 3),
        "route_vs_echo_ratio_per_round_median": round(round_ratio, 3),
        "echo_server_cpu_us_per_call": round(e_cpu),
        "route_server_cpu_us_per_call": round(r_cpu),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--in-flight", type=int, default=50)
    parser.add_argument("--agents", type=int, default=16)
    parser.add_argument("--serve-route", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_route:
        asyncio.run(serve_route(args.serve_route, args.agents))
        return 0
    procs, echo_target, route_target = start_servers(args.agents)
    try:
        figures = asyncio.run(run(args, echo_target, route_target, (procs[0].pid, procs[1].pid)))
    finally:
        stop_servers(procs)
    emit(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
