"""Shared benchmark helpers: percentiles, closed-loop load, a bare gRPC echo server, RSS."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
from omega.ingest.v1 import ingest_pb2, ingest_pb2_grpc

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary_ms(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "mean_ms": round(statistics.fmean(ms), 2) if ms else float("nan"),
    }


async def closed_loop(
    call: Callable[[int], Awaitable[object]], *, in_flight: int, duration_s: float, warmup_s: float = 1.0
) -> tuple[float, list[float]]:
    """Keep ``in_flight`` calls running for ``duration_s``; returns (calls/s, latencies in s)."""
    counter = 0
    latencies: list[float] = []
    start = time.perf_counter()
    measure_from = start + warmup_s
    stop_at = measure_from + duration_s
    done_in_window = 0

    async def worker() -> None:
        nonlocal counter, done_in_window
        while True:
            now = time.perf_counter()
            if now >= stop_at:
                return
            i = counter
            counter += 1
            t0 = time.perf_counter()
            await call(i)
            t1 = time.perf_counter()
            if t0 >= measure_from and t1 <= stop_at:
                latencies.append(t1 - t0)
                done_in_window += 1

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return done_in_window / duration_s, latencies


class EchoIngest(ingest_pb2_grpc.IngestServiceServicer):
    """A bare IngestService that stores nothing: the baseline a real server is compared with."""

    async def IngestTicket(self, request, context):  # type: ignore[no-untyped-def]
        return ingest_pb2.IngestTicketResponse(ticket_id="echo", raw_payload_id=str(len(request.payload)))


async def serve_echo(port: int) -> None:
    server = grpc.aio.server()
    ingest_pb2_grpc.add_IngestServiceServicer_to_server(EchoIngest(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def emit(figures: dict[str, object]) -> None:
    """The last line of every benchmark: one JSON object."""
    print(json.dumps(figures, sort_keys=True))


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))
