"""``omega titans check``: which Titans are configured and whether each answers a tiny call."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any
from urllib.parse import urlsplit

from titans.base import Model
from titans.config import TitanSpec, TitansSettings
from titans.errors import TitanError


def add_titans_commands(subparsers: Any) -> None:
    """Add ``titans check`` to an argparse subparsers object (handler via ``func``)."""
    titans = subparsers.add_parser("titans", help="cloud and local model adapters")
    sub = titans.add_subparsers(dest="titans_command", required=True)
    check = sub.add_parser("check", help="show which Titans are configured and reachable")
    check.add_argument("--json", action="store_true", help="print JSON instead of a table")
    check.add_argument("--timeout", type=float, default=5.0, help="seconds per provider")
    check.add_argument(
        "--no-call", action="store_true", help="only show the configuration, call nothing"
    )
    check.set_defaults(func=run_check)


async def check_titans(
    settings: TitansSettings, *, timeout_s: float, call: bool = True
) -> list[dict[str, Any]]:
    """One row per Titan (the local one included); a one-token call per configured cloud Titan."""
    from titans.factory import build_model

    async def probe(spec: TitanSpec, model: Model | TitanError | None) -> dict[str, Any]:
        host = urlsplit(spec.base_url).hostname if spec.base_url else "vendor default"
        row: dict[str, Any] = {
            "titan": spec.name, "kind": spec.kind, "model": spec.model, "host": host,
            "configured": True, "reachable": None, "latency_ms": None, "error": None,
        }
        if model is None:
            return row
        if isinstance(model, TitanError):  # e.g. the SDK is not installed
            row["reachable"], row["error"] = False, model.reason
            return row
        start = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                await model.ping(timeout_s=timeout_s)
            row["reachable"] = True
        except TitanError as exc:
            row["reachable"], row["error"] = False, exc.reason
        except TimeoutError:
            row["reachable"], row["error"] = False, "TITAN_TIMEOUT"
        finally:
            await model.aclose()
        row["latency_ms"] = round((time.perf_counter() - start) * 1000, 1)
        return row

    specs = settings.specs()
    # Build (and import the SDKs) before timing anything: imports block the event loop.
    models: list[Model | TitanError | None] = []
    for spec in specs:
        try:
            models.append(build_model(spec) if call else None)
        except TitanError as exc:
            models.append(exc)
    rows = list(await asyncio.gather(*(probe(s, m) for s, m in zip(specs, models, strict=True))))
    rows.append({
        "titan": "local", "kind": "local", "model": "local", "host": "in-process",
        "configured": True, "reachable": True, "latency_ms": 0.0, "error": None,
    })
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    cols = ["titan", "kind", "model", "host", "reachable", "latency_ms", "error"]
    cells = [[("-" if r[c] is None else str(r[c])) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def run_check(args: argparse.Namespace) -> int:
    """The ``titans check`` handler: 0 when every configured Titan answered, else 1."""
    rows = asyncio.run(
        check_titans(TitansSettings(), timeout_s=args.timeout, call=not args.no_call)
    )
    print(json.dumps({"titans": rows}) if args.json else _table(rows))
    return 0 if all(r["reachable"] is not False for r in rows) else 1
