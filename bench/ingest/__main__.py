"""bench/ingest: sustained IngestTicket throughput vs a bare gRPC echo, end-to-end latency, RSS.

Run: ``python -m bench.ingest`` (``--quick`` for a short run). Servers run in their own
processes (`omega up` and a bare echo server); the load generator runs here. Figures:
- ingest and echo throughput with 50 calls in flight (medians of ``--rounds`` rounds) and their
  ratio (target ≥ 0.5: persistence may cost at most half), for the all-in-one ``omega up`` (its
  pipeline triaging on the same 2 cores) and for the Ingest deployable alone (``omega serve
  ingest``, an ingest pod in production);
- accepted → TRIAGED latency at 50 tickets/s offered (open loop), P50/P95/P99 (target P95 ≤ 100 ms),
  from the server's own timestamps (ticket create_time → triage_time), after ``--warmup-seconds``
  of the same load whose figures are reported apart;
- resident memory of `omega up` idle and after the load (target ≤ 400 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from omega.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from omega.tickets.v1 import ticket_pb2

from bench.common import SHARED_DATA, closed_loop, cpu_count, emit, free_port, rss_mb, summary_ms
from mesh.demo import SETTLED
from sdk.client import OmegaClient

GENERATED = [
    "Outlook keeps asking for my password since this morning",
    "Printer on the second floor shows paper jam but there is no paper stuck",
    "Need a new laptop for a new hire starting Monday in accounting",
    "VPN disconnects every few minutes when working from home",
    "Disk space on FS01 below 5 percent, backups failing",
    "Please reset my password, account locked after holiday",
    "Teams calls drop audio for the whole sales team",
    "Request access to the shared finance folder for Maria",
]


def ticket_texts(limit: int = 5000) -> list[str]:
    path = SHARED_DATA / "it_tickets_dev.csv"
    if path.exists():
        with path.open(newline="", encoding="utf-8") as f:
            rows = [r["Document"] for _, r in zip(range(limit), csv.DictReader(f), strict=False)]
        print(f"payload text: {len(rows)} tickets from {path.name}")
        return rows
    print("payload text: generated (../shared/data not present)")
    return [f"{GENERATED[i % len(GENERATED)]} (#{i})" for i in range(limit)]


def payload(i: int, texts: list[str], run: str) -> bytes:
    text = texts[i % len(texts)]
    return json.dumps({"id": f"{run}-{i}", "title": text[:80], "description": text}).encode()


async def wait_serving(target: str, timeout_s: float = 120.0) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout_s
    async with grpc.aio.insecure_channel(target) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        while True:
            try:
                r = await stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if r.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{target} did not become SERVING")
            await asyncio.sleep(0.2)


async def throughput(target: str, texts: list[str], run: str, seconds: float) -> tuple[float, list[float]]:
    async with grpc.aio.insecure_channel(target) as ch:
        stub = ingest_pb2_grpc.IngestServiceStub(ch)

        async def call(i: int) -> object:
            return await stub.IngestTicket(
                ingest_pb2.IngestTicketRequest(payload=payload(i, texts, run)), timeout=30
            )

        return await closed_loop(call, in_flight=50, duration_s=seconds, warmup_s=1.0)


async def rounds(
    target: str, texts: list[str], tag: str, label: str, args: argparse.Namespace
) -> tuple[list[float], list[float]]:
    """``args.rounds`` closed-loop rounds against ``target``: each round's rate, all latencies."""
    rates: list[float] = []
    latencies: list[float] = []
    for r in range(args.rounds):
        rate, lat = await throughput(target, texts, f"{tag}{r}", args.seconds)
        rates.append(rate)
        latencies += lat
        print(f"{label} round {r + 1}: {rate:,.0f}/s")
    return rates, latencies


async def wait_drained(client: OmegaClient, ids: list[str], timeout_s: float) -> list[ticket_pb2.Ticket]:
    deadline = time.monotonic() + timeout_s
    pending = list(ids)
    done: list[ticket_pb2.Ticket] = []
    while pending and time.monotonic() < deadline:
        still = []
        for tid in pending:
            t = await client.get_ticket(tid)
            (done if t.state in SETTLED else still).append(t if t.state in SETTLED else tid)
        pending = still
        if pending:
            await asyncio.sleep(0.5)
    return done


async def open_loop_latency(
    target: str, texts: list[str], rate: float, seconds: float, warmup_s: float = 0.0
) -> dict[str, object]:
    """Offer ``rate`` tickets/s for ``warmup_s + seconds``; latency = server create_time →
    triage_time. Tickets offered in the first ``warmup_s`` are reported apart ("warmup"): the
    first traffic after a start also pays for lazily loaded code and growing memory pools."""
    ids: list[str] = []
    run = f"lat{int(time.time())}"
    async with OmegaClient(target, timeout_s=30) as client:
        start = time.perf_counter()
        tasks = []
        n_warm = int(rate * warmup_s)
        n = n_warm + int(rate * seconds)
        for i in range(n):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(client.ingest_ticket(payload(i, texts, run))))
        results = await asyncio.gather(*tasks)
        ids = [r.ticket_id for r in results]
        offered_s = time.perf_counter() - start
        tickets = await wait_drained(client, ids, timeout_s=180)
    warm_ids = set(ids[:n_warm])
    lat, warm = [], []
    for t in tickets:
        if t.triage.HasField("triage_time"):
            value = (t.triage.triage_time.ToNanoseconds() - t.create_time.ToNanoseconds()) / 1e9
            (warm if t.id in warm_ids else lat).append(value)
    out: dict[str, object] = {
        "offered_per_s": round(n / offered_s, 1),
        "tickets": n - n_warm,
        "settled": len(tickets) - len([t for t in tickets if t.id in warm_ids]),
        **summary_ms(lat),
    }
    if n_warm:
        out["warmup"] = {"seconds": warmup_s, "tickets": n_warm, **summary_ms(warm)}
    return out


def start_process(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def omega_env(data: Path, grpc_port: int, http_port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        OMEGA_GRPC_ADDR=f"127.0.0.1:{grpc_port}",
        OMEGA_HTTP_ADDR=f"127.0.0.1:{http_port}",
        OMEGA_DATA_DIR=str(data),
        OMEGA_LOG_LEVEL="WARNING",
    )
    return env


def stop(*procs: subprocess.Popen[bytes]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    texts = ticket_texts()
    tmp = Path(tempfile.mkdtemp(prefix="omega-bench-ingest-"))
    omega_bin = str(Path(sys.executable).with_name("omega"))
    echo_port = free_port()

    # Phase 1: throughput, ingest vs a bare echo, alternating rounds on the same machine.
    grpc_port = free_port()
    env = omega_env(tmp / "burst", grpc_port, free_port())
    echo = start_process(
        [sys.executable, "-c", f"import asyncio; from bench.common import serve_echo; asyncio.run(serve_echo({echo_port}))"],
        env,
    )
    omega = start_process([omega_bin, "up"], env)
    try:
        target_echo, target_omega = f"127.0.0.1:{echo_port}", f"127.0.0.1:{grpc_port}"
        async with grpc.aio.insecure_channel(target_echo) as ch:  # the bare echo has no health
            await asyncio.wait_for(ch.channel_ready(), 60)
        t0 = time.perf_counter()
        await wait_serving(target_omega)
        startup_s = time.perf_counter() - t0  # includes training the demo model on a fresh install
        await asyncio.sleep(2)
        rss_idle = rss_mb(omega.pid)
        # Echo rounds first, while omega is idle: after an ingest round its pipeline triages
        # the backlog for a minute and would slow an echo round on the same 2 cores.
        echo_rates, _ = await rounds(target_echo, texts, "e", "echo", args)
        ingest_rates, ingest_lat = await rounds(target_omega, texts, "i", "ingest", args)
        rss_burst = rss_mb(omega.pid)
        stop(omega)
        # The same rounds against the Ingest deployable alone (`omega serve ingest`: what runs
        # in an ingest pod in production, where the pipeline teams have pods of their own).
        # This is what persistence costs; the rounds above add the pipeline on the same cores.
        grpc_port = free_port()
        omega = start_process(
            [omega_bin, "serve", "ingest"], omega_env(tmp / "deployable", grpc_port, free_port())
        )
        target_ingest = f"127.0.0.1:{grpc_port}"
        await wait_serving(target_ingest)
        deployable_rates, _ = await rounds(target_ingest, texts, "d", "ingest deployable alone,", args)
    finally:
        stop(echo, omega)

    # Phase 2: a fresh instance (same trained model) at a steady 50 tickets/s offered.
    steady = tmp / "steady"
    shutil.copytree(tmp / "burst" / "models", steady / "models")
    grpc_port = free_port()
    env = omega_env(steady, grpc_port, free_port())
    omega = start_process([omega_bin, "up"], env)
    try:
        target_omega = f"127.0.0.1:{grpc_port}"
        await wait_serving(target_omega)
        await asyncio.sleep(1)
        steady_idle = rss_mb(omega.pid)
        latency = await open_loop_latency(
            target_omega, texts, args.rate, args.latency_seconds, warmup_s=args.warmup_seconds
        )
        rss_load = rss_mb(omega.pid)
    finally:
        stop(omega)
    shutil.rmtree(tmp, ignore_errors=True)

    echo_med, ingest_med = statistics.median(echo_rates), statistics.median(ingest_rates)
    deployable_med = statistics.median(deployable_rates)
    figures: dict[str, object] = {
        "bench": "ingest",
        "in_flight": 50,
        "echo_calls_per_s": round(echo_med),
        "ingest_calls_per_s": round(ingest_med),
        "ingest_vs_echo_ratio": round(ingest_med / echo_med, 3),
        "ingest_deployable_calls_per_s": round(deployable_med),
        "ingest_deployable_vs_echo_ratio": round(deployable_med / echo_med, 3),
        "ingest_latency": summary_ms(ingest_lat),
        "e2e_accepted_to_triaged": latency,
        "rss_idle_mb": round(min(rss_idle, steady_idle), 1),
        "rss_after_burst_mb": round(rss_burst, 1),
        "rss_under_load_mb": round(rss_load, 1),
        "startup_s_fresh_install": round(startup_s, 2),
        "rounds": args.rounds,
        "seconds_per_round": args.seconds,
        "cpus": cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(f"ingest (omega up, pipeline in the same process) {ingest_med:,.0f}/s vs echo "
          f"{echo_med:,.0f}/s → ratio {ingest_med / echo_med:.2f} (target ≥ 0.5)")
    print(f"ingest deployable alone (omega serve ingest) {deployable_med:,.0f}/s → ratio "
          f"{deployable_med / echo_med:.2f}")
    print(
        f"accepted→TRIAGED at {latency['offered_per_s']}/s offered: P50 {latency['p50_ms']} ms, "
        f"P95 {latency['p95_ms']} ms (target ≤ 100), after {args.warmup_seconds:g} s of warm-up "
        f"load (its P95: {dict(latency.get('warmup') or {}).get('p95_ms', '-')} ms)"
    )
    print(f"RSS of omega up: idle {figures['rss_idle_mb']} MB, under load {rss_load:.0f} MB (target ≤ 400)")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--warmup-seconds", type=float, default=3.0,
                        help="load before the measured latency window (reported apart)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds, args.latency_seconds, args.warmup_seconds = 1, 2.0, 4.0, 2.0
    emit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
