"""``omega``: the command-line entry point for people, scripts and benchmarks."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
from omega.tickets.v1 import ticket_pb2

from connectors.contract import Source
from mesh.settings import OmegaSettings


def _settings() -> OmegaSettings:
    return OmegaSettings()


# ---- omega up --------------------------------------------------------------------------------
async def _up(args: argparse.Namespace) -> int:
    from federation.errors import FailedPrecondition
    from mesh import logs
    from mesh.app import EmbeddedMesh
    from mesh.demo import run_demo, show_shadow_flow
    from mesh.heap import settle_heap
    from mesh.http import AddressInUse

    settings = _settings()
    logs.configure(settings.log_level, settings.log_json)
    if args.processes:
        return await _up_processes(args, settings)
    mesh = EmbeddedMesh(settings)
    try:
        await mesh.start()
    except (AddressInUse, FailedPrecondition) as exc:  # a port or the data folder is taken
        await mesh.stop(grace_s=0)
        print(f"omega up: {exc}", file=sys.stderr, flush=True)
        return 2
    settle_heap()  # the start-up heap (models, vocabularies) out of the collector's reach
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"OMEGA is up: gRPC {mesh.grpc_target}, HTTP http://127.0.0.1:{mesh.http_port} "
        f"(data: {settings.data_dir.resolve()}, tenants: {settings.tenants_path})",
        flush=True,
    )
    if mesh.created_tenants_file:
        print(f"generated webhook secrets for the default tenant in {settings.tenants_path}", flush=True)
    try:
        if args.demo:
            await run_demo(mesh.grpc_target, sys.stdout)
            await show_shadow_flow(mesh.grpc_target, sys.stdout, http_port=mesh.http_port)
            if args.exit_after_demo:
                return 0
            print("OMEGA keeps running; press Ctrl-C to stop.", flush=True)
        await stop.wait()
    finally:
        await mesh.stop()
    return 0


async def _up_processes(args: argparse.Namespace, settings: OmegaSettings) -> int:
    from mesh.demo import run_demo
    from mesh.launcher import Launcher, describe

    launcher = Launcher(settings, args.only.split(",") if args.only else None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await launcher.start()
    try:
        print(describe(launcher), flush=True)
        print(f"logs: {launcher.log_dir}; processes: {launcher.state_file}", flush=True)
        healthy = asyncio.create_task(launcher.wait_healthy())
        await asyncio.wait([healthy, asyncio.create_task(stop.wait())], return_when="FIRST_COMPLETED")
        if healthy.done() and healthy.result():
            print("OMEGA is up (processes): every child is SERVING", flush=True)
            if args.demo and "ingest" in launcher.children:
                await run_demo(launcher.children["ingest"].grpc_addr, sys.stdout)
                if args.exit_after_demo:
                    return 0
        await stop.wait()
    finally:
        await launcher.stop()
    return 0


# ---- omega serve -----------------------------------------------------------------------------
async def _serve(args: argparse.Namespace) -> int:
    from mesh import logs
    from mesh.serve import serve

    settings = _settings()
    logs.configure(settings.log_level, settings.log_json)
    return await serve(args.name, settings)


# ---- omega ingest ----------------------------------------------------------------------------
async def _ingest(args: argparse.Namespace) -> int:
    from sdk.client import IngestResult, OmegaClient

    source = Source(args.source) if args.source else None
    payloads: list[tuple[str, bytes]] = []
    for name in args.files:
        try:
            payloads.append((name, Path(name).read_bytes()))
        except OSError as exc:
            print(f"{name}: cannot read: {exc.strerror}", file=sys.stderr)
            return 2
    async with OmegaClient(args.addr, tenant=args.tenant) as client:
        results = await client.batch_ingest(
            [p for _, p in payloads], source=source, received_via="cli"
        )
    failed = 0
    rows = []
    for (name, _), res in zip(payloads, results, strict=True):
        if isinstance(res, IngestResult):
            rows.append({"file": name, "ticket_id": res.ticket_id, "duplicate": res.duplicate,
                         "source": res.source.value if res.source else ""})
        else:
            failed += 1
            rows.append({"file": name, "error": res.name})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            if "error" in r:
                print(f"{r['file']}: refused ({r['error']}); kept as a dead letter, see `omega deadletter list`")
            else:
                dup = " (duplicate)" if r["duplicate"] else ""
                print(f"{r['file']}: {r['ticket_id']} [{r['source']}]{dup}")
    return 1 if failed else 0


# ---- omega tickets ---------------------------------------------------------------------------
def _state_value(name: str | None) -> int:
    if not name:
        return 0
    return ticket_pb2.TicketState.Value("TICKET_STATE_" + name.upper())


def _ticket_dict(t: ticket_pb2.Ticket) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(t, preserving_proto_field_name=True)


async def _tickets_list(args: argparse.Namespace) -> int:
    from mesh.demo import state_name
    from sdk.client import OmegaClient

    async with OmegaClient(args.addr, tenant=args.tenant) as client:
        tickets, token = await client.list_tickets(state=_state_value(args.state), page_size=args.limit)
    if args.json:
        print(json.dumps({"tickets": [_ticket_dict(t) for t in tickets], "next_page_token": token}, indent=2))
        return 0
    print(f"{'id':<31} {'state':<12} {'category':<16} {'conf':>5}  title")
    for t in tickets:
        print(f"{t.id:<31} {state_name(t.state):<12} {t.triage.category.label[:16]:<16} "
              f"{t.triage.category.confidence:>5.2f}  {t.title[:60]}")
    if token:
        print(f"(more: --limit larger, or page token {token})")
    return 0


async def _tickets_get(args: argparse.Namespace) -> int:
    from mesh.demo import state_name
    from sdk.client import OmegaClient

    async with OmegaClient(args.addr, tenant=args.tenant) as client:
        t = await client.get_ticket(args.id)
    if args.json:
        print(json.dumps(_ticket_dict(t), indent=2))
        return 0
    tri = t.triage
    print(f"{t.id}  [{state_name(t.state)}]  {t.title}")
    print(f"  source: {ticket_pb2.SourceSystem.Name(t.source)} #{t.external_number or t.external_id}")
    if t.company:
        print(f"  company: {t.company}")
    if tri.category.label:
        print(f"  category: {tri.category.label} ({tri.category.confidence:.2f})"
              f"  priority: {tri.priority.label} ({tri.priority.confidence:.2f})")
        alts = ", ".join(f"{a.label} {a.probability:.2f}" for a in tri.category.alternatives[:3])
        print(f"  alternatives: {alts}")
    for r in tri.reasons:
        print(f"  why: {r}")
    if tri.needs_review:
        print("  needs review: below the tenant's confidence threshold")
    if t.error:
        print(f"  error: {t.error}")
    return 0


async def _tickets_timeline(args: argparse.Namespace) -> int:
    from google.protobuf.json_format import MessageToDict
    from omega.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc

    from sdk.client import OmegaClient

    async with OmegaClient(args.addr, tenant=args.tenant) as client:
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(client.channel)
        resp = await client.call(
            stub.GetTicketTimeline,
            orchestrator_pb2.GetTicketTimelineRequest(tenant=args.tenant or "", ticket_id=args.id),
        )
    if args.json:
        print(json.dumps(MessageToDict(resp, preserving_proto_field_name=True), indent=2))
        return 0
    print(f"{resp.ticket_id}  [{resp.state}]")
    for st in resp.steps:
        took = st.duration.ToNanoseconds() / 1e6
        outcome = orchestrator_pb2.StepOutcome.Name(st.outcome).removeprefix("STEP_OUTCOME_").lower()
        when = st.start_time.ToDatetime().strftime("%H:%M:%S.%f")[:-3]
        target = f" → {st.target_state}" if st.target_state and outcome == "ok" else ""
        print(f"  {when}  {st.step:<18} attempt {st.attempt}  {took:8.1f} ms  {outcome}{target}")
        if st.error:
            print(f"      error: {st.error}")
    if resp.error:
        print(f"  error: {resp.error}")
    return 0


# ---- omega deadletter ------------------------------------------------------------------------
async def _deadletter_list(args: argparse.Namespace) -> int:
    from sdk.client import OmegaClient

    async with OmegaClient(args.addr, tenant=args.tenant) as client:
        items = await client.list_dead_letters(include_replayed=args.all)
    if args.json:
        from google.protobuf.json_format import MessageToDict

        print(json.dumps([MessageToDict(d, preserving_proto_field_name=True) for d in items], indent=2))
        return 0
    if not items:
        print("no dead letters")
    for d in items:
        flag = " (replayed)" if d.replayed else ""
        print(f"{d.id}  stage={d.stage}  ticket={d.ticket_id or '-'}{flag}\n    {d.reason}")
    return 0


async def _deadletter_replay(args: argparse.Namespace) -> int:
    from sdk.client import OmegaClient

    async with OmegaClient(args.addr, tenant=args.tenant) as client:
        ticket_id = await client.replay_dead_letter(
            args.id, source=Source(args.source) if args.source else None
        )
    print(f"replayed {args.id} → ticket {ticket_id}")
    return 0


def _async(fn: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        return int(asyncio.run(fn(args)))

    return run


def build_parser() -> argparse.ArgumentParser:
    settings = _settings()
    parser = argparse.ArgumentParser(prog="omega", description="OMEGA: AI ticket triage for MSPs")
    sub = parser.add_subparsers(dest="command", required=True)

    def client_opts(p: argparse.ArgumentParser) -> None:
        p.add_argument("--addr", default=settings.grpc_addr, help="OMEGA gRPC address (OMEGA_GRPC_ADDR)")
        p.add_argument("--tenant", default=None, help="tenant (default: the server's default tenant)")
        p.add_argument("--json", action="store_true", help="print JSON")

    up = sub.add_parser("up", help="run the embedded mesh (all services in one process)")
    up.add_argument("--demo", action="store_true", help="send the sample tickets and print their triage")
    up.add_argument("--exit-after-demo", action="store_true", help="stop once the demo has printed")
    up.add_argument("--processes", action="store_true",
                    help="each service and team in its own supervised process (omega serve)")
    up.add_argument("--only", default="", help="with --processes: comma-separated deployables")
    up.set_defaults(func=_async(_up))

    sv = sub.add_parser("serve", help="run one deployable (a Kubernetes pod or a --processes child)")
    sv.add_argument("name", help="ingest, gateway, orchestrator, context-server, federation-core, "
                                 "agent-registry, mcp-registry, capacity-manager, triage, shadow, analytics")
    sv.set_defaults(func=_async(_serve))

    ing = sub.add_parser("ingest", help="send payload files to the ingest RPC")
    ing.add_argument("files", nargs="+", help="JSON payload files (vendor recognised from the shape)")
    ing.add_argument("--source", choices=[s.value for s in Source], help="override the recognised vendor")
    client_opts(ing)
    ing.set_defaults(func=_async(_ingest))

    tickets = sub.add_parser("tickets", help="read tickets back").add_subparsers(dest="tickets_cmd", required=True)
    tl = tickets.add_parser("list", help="list tickets, newest first")
    tl.add_argument("--state", choices=[n.removeprefix("TICKET_STATE_").lower()
                                        for n in ticket_pb2.TicketState.keys()[1:]])
    tl.add_argument("--limit", type=int, default=50)
    client_opts(tl)
    tl.set_defaults(func=_async(_tickets_list))
    tg = tickets.add_parser("get", help="show one ticket with its triage")
    tg.add_argument("id")
    client_opts(tg)
    tg.set_defaults(func=_async(_tickets_get))
    tt = tickets.add_parser("timeline", help="every pipeline step of one ticket (the Orchestrator)")
    tt.add_argument("id")
    client_opts(tt)
    tt.set_defaults(func=_async(_tickets_timeline))

    dl = sub.add_parser("deadletter", help="payloads that could not be processed").add_subparsers(
        dest="dl_cmd", required=True
    )
    dll = dl.add_parser("list", help="list dead letters with their reasons")
    dll.add_argument("--all", action="store_true", help="include replayed ones")
    client_opts(dll)
    dll.set_defaults(func=_async(_deadletter_list))
    dlr = dl.add_parser("replay", help="send a dead letter through the pipeline again")
    dlr.add_argument("id")
    dlr.add_argument("--source", choices=[s.value for s in Source], help="treat the payload as this vendor")
    client_opts(dlr)
    dlr.set_defaults(func=_async(_deadletter_replay))

    _add_plugin_commands(sub)
    return parser


def _add_plugin_commands(sub: Any) -> None:
    """Commands owned by other packages (model, connectors, titans)."""
    from connectors.kaseya_cli import add_connector_commands
    from mcp_servers.cli import add_mcp_commands
    from titans.cli import add_titans_commands
    from titans.local.cli import add_model_commands

    add_model_commands(sub)
    add_connector_commands(sub)
    add_titans_commands(sub)
    add_mcp_commands(sub)


def _limit_blas_threads() -> None:
    """One BLAS thread per worker thread: the embedder and the models run in a thread pool,
    and two OpenBLAS threads per call oversubscribe a 2-core machine several times over."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def main(argv: Sequence[str] | None = None) -> int:
    _limit_blas_threads()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except grpc.aio.AioRpcError as err:
        print(f"omega: {err.code().name}: {err.details()}", file=sys.stderr)
        if err.code() == grpc.StatusCode.UNAVAILABLE:
            print(f"omega: is OMEGA running at {getattr(args, 'addr', '?')}? start it with `omega up`",
                  file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
