"""``omega connector kaseya-bms``: run the Kaseya BMS poller as its own process.

Wiring (mesh/cli.py)::

    from connectors.kaseya_cli import add_connector_commands
    add_connector_commands(subparsers)      # adds "connector" with "kaseya-bms"
    ...
    return args.func(args)                  # the handler returns the exit code

Exit codes: 0 done (or stopped by SIGTERM/SIGINT), 1 a ``--once`` poll failed, 2 bad configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from connectors.kaseya_bms_api import KaseyaBmsApi, KaseyaBmsSettings
from connectors.kaseya_poller import CursorStateError, CursorStore, KaseyaPoller
from federation.errors import OmegaError
from mesh.settings import OmegaSettings
from sdk.client import OmegaClient

log = logging.getLogger(__name__)

STATE_FILE_NAME = "kaseya-bms-state.json"


def add_connector_commands(subparsers: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    """Add ``connector`` (with ``kaseya-bms``) to the ``omega`` CLI; returns the group parser."""
    group: argparse.ArgumentParser = subparsers.add_parser(
        "connector",
        help="run a PSA connector as its own process",
        description="Run a PSA connector as its own process.",
    )
    names = group.add_subparsers(dest="connector", metavar="NAME", required=True)
    add_kaseya_bms_command(names)
    return group


def add_kaseya_bms_command(connector_subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``kaseya-bms`` under an existing ``connector`` group."""
    p = connector_subparsers.add_parser(
        "kaseya-bms",
        help="poll Kaseya BMS for new and changed tickets and ingest them",
        description=(
            "Poll Kaseya BMS (/v2/servicedesk/tickets/search) for new and changed tickets and "
            "send each to IngestTicket. Credentials come from OMEGA_KASEYA_BMS_* (base_url, "
            "username, password, tenant, omega_tenant, ...); see docs/kaseya-connector.md."
        ),
    )
    p.add_argument("--once", action="store_true", help="run one poll cycle, print a summary, exit")
    p.add_argument(
        "--interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds between polls (default: OMEGA_KASEYA_BMS_POLL_INTERVAL_S or 60)",
    )
    p.add_argument(
        "--omega-addr",
        default=None,
        metavar="HOST:PORT",
        help="OMEGA gRPC address (default: OMEGA_GRPC_ADDR or 127.0.0.1:50051)",
    )
    p.add_argument(
        "--state-file",
        type=Path,
        default=None,
        help=f"cursor file (default: OMEGA_KASEYA_BMS_STATE_FILE or $OMEGA_DATA_DIR/{STATE_FILE_NAME})",
    )
    p.set_defaults(func=run_kaseya_bms)


def run_kaseya_bms(args: argparse.Namespace) -> int:
    """Handler of ``omega connector kaseya-bms``; returns the process exit code."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
    try:
        settings = KaseyaBmsSettings()
        omega = OmegaSettings()
    except ValidationError as exc:
        print(f"kaseya-bms: bad configuration: {exc.error_count()} error(s)", file=sys.stderr)
        for err in exc.errors():
            print(f"  {'.'.join(str(x) for x in err['loc'])}: {err['msg']}", file=sys.stderr)
        return 2
    missing = [
        f"OMEGA_KASEYA_BMS_{name.upper()}"
        for name, value in (
            ("username", settings.username),
            ("password", settings.password.get_secret_value()),
            ("tenant", settings.tenant),
        )
        if not value
    ]
    if missing:
        print(f"kaseya-bms: set {', '.join(missing)}", file=sys.stderr)
        return 2
    addr = args.omega_addr or omega.grpc_addr
    state_file = args.state_file or settings.state_file or omega.data_dir / STATE_FILE_NAME
    interval = args.interval if args.interval is not None else settings.poll_interval_s
    if interval <= 0:
        print("kaseya-bms: --interval must be > 0", file=sys.stderr)
        return 2
    return asyncio.run(_serve(settings, addr, state_file, interval, once=args.once))


async def _serve(
    settings: KaseyaBmsSettings, addr: str, state_file: Path, interval: float, *, once: bool
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or no signals on this platform
    store = CursorStore.for_settings(state_file, settings)
    try:
        async with KaseyaBmsApi(settings) as api, OmegaClient(addr) as client:
            poller = KaseyaPoller(api, client, store, settings)
            log.info(
                "kaseya-bms connector: BMS %s -> OMEGA %s (tenant %s), state %s",
                settings.base_url,
                addr,
                settings.omega_tenant or "<default>",
                state_file,
            )
            if once:
                try:
                    report = await poller.poll_once(stop)
                except OmegaError as exc:
                    print(f"kaseya-bms: poll failed [{exc.reason}]: {exc.message}", file=sys.stderr)
                    return 1
                print(json.dumps(asdict(report)))
                return 0
            await poller.run(stop, interval_s=interval)
            return 0
    except CursorStateError as exc:
        print(f"kaseya-bms: {exc.message}", file=sys.stderr)
        return 2
    finally:
        for sig in installed:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
