"""``omega mcp triage|shadow|omega``: an MCP server over stdio for Claude Desktop and IDE agents.

The process talks to the running OMEGA at ``OMEGA_GRPC_ADDR`` (default 127.0.0.1:50051) as the
tenant and technician in ``OMEGA_MCP_TENANT`` / ``OMEGA_MCP_TECHNICIAN``. Also runnable as
``python -m mcp_servers.cli triage``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import sys
from collections.abc import Sequence
from typing import Any

import grpc

from mcp_servers.deps import McpDeps, fixed_caller
from mcp_servers.registration import GrpcMcpRegistry, describe, register_quietly
from mcp_servers.servers import SERVERS
from mcp_servers.settings import McpSettings
from mcp_servers.tokens import TokenDirectory

log = logging.getLogger(__name__)
READY_TIMEOUT_S = 3.0


def add_mcp_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``mcp <server>`` to the ``omega`` CLI's subparsers; returns the ``mcp`` parser."""
    mcp: argparse.ArgumentParser = subparsers.add_parser(
        "mcp", help="serve OMEGA's MCP tools over stdio (Claude Desktop)"
    )
    servers = mcp.add_subparsers(dest="mcp_server", required=True)
    for name, help_text in (
        ("triage", "triage, tickets, similar tickets, explanations"),
        ("shadow", "my queue, proposals and two-step actions"),
        ("omega", "every tool in one server"),
    ):
        p = servers.add_parser(name, help=help_text)
        p.add_argument("--addr", default=None, help="OMEGA gRPC address (default OMEGA_GRPC_ADDR)")
        p.add_argument("--tenant", default=None, help="tenant (default OMEGA_MCP_TENANT)")
        p.add_argument(
            "--technician", default=None, help="technician (default OMEGA_MCP_TECHNICIAN)"
        )
        p.set_defaults(func=run_stdio_command, mcp_server=name)
    return mcp


def run_stdio_command(args: argparse.Namespace) -> int:
    """The handler behind ``omega mcp <server>`` (blocks until stdin closes)."""
    return asyncio.run(
        serve_stdio(args.mcp_server, addr=args.addr, tenant=args.tenant, technician=args.technician)
    )


async def serve_stdio(
    name: str, *, addr: str | None = None, tenant: str | None = None, technician: str | None = None
) -> int:
    from mesh.settings import OmegaSettings

    omega, settings = OmegaSettings(), McpSettings()
    target = addr or omega.grpc_addr
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    tokens_path = settings.tokens_path(omega.data_dir)
    # The same signing key as the HTTP endpoint when the tokens file is readable (tokens then
    # verify on either); otherwise a per-process key (tokens are short-lived anyway).
    key = (
        TokenDirectory.load(tokens_path).signing_key
        if tokens_path.exists()
        else secrets.token_bytes(32)
    )
    channel = grpc.aio.insecure_channel(target)
    try:
        reachable = True
        try:
            await asyncio.wait_for(channel.channel_ready(), READY_TIMEOUT_S)
        except TimeoutError:
            reachable = False
            print(
                f"omega mcp: no OMEGA is reachable at {target}; start it with `omega up` or set "
                "OMEGA_GRPC_ADDR. Serving anyway: tools fail with UNAVAILABLE until it is up.",
                file=sys.stderr,
            )
        deps = McpDeps(
            channel=channel,
            target=target,
            caller=fixed_caller(tenant or settings.tenant, technician or settings.technician),
            signing_key=key,
            timeout_s=settings.grpc_timeout_s,
            confirm_ttl_s=settings.confirm_ttl_s,
        )
        server = SERVERS[name](deps)
        # Register with the MCP Registry (by default the one the running OMEGA serves).
        registry_channel = (
            grpc.aio.insecure_channel(settings.registry_addr) if settings.registry_addr else channel
        )
        if reachable or settings.registry_addr:
            record = await describe(server, transport="stdio", command="omega", args=("mcp", name))
            await register_quietly(GrpcMcpRegistry(registry_channel, timeout_s=2.0), record)
        if registry_channel is not channel:
            await registry_channel.close()
        await server.run_stdio_async()
    finally:
        await channel.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mcp_servers.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    # ``python -m mcp_servers.cli triage`` == ``omega mcp triage``.
    add_mcp_commands(sub)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] != "mcp":
        argv = ["mcp", *argv]
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
