"""stdio: the official client spawns ``omega mcp triage|shadow`` (or ``python -m mcp_servers.cli``
while the lead has not wired the command into mesh/cli.py) against a running embedded mesh."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.mcp_servers.conftest import Rig
from tests.mcp_servers.test_inprocess import (
    SHADOW_TOOLS,
    TRIAGE_TOOLS,
    check_tool_contract,
    error_code,
)

REPO = Path(__file__).resolve().parents[2]
OMEGA = Path(sys.executable).parent / "omega"

pytestmark = pytest.mark.asyncio(loop_scope="module")


def command(server: str) -> tuple[str, list[str]]:
    """``omega mcp <server>`` once wired into the omega CLI, else the module entry point."""
    if OMEGA.exists() and "add_mcp_commands" in (REPO / "mesh" / "cli.py").read_text():
        return str(OMEGA), ["mcp", server]
    return sys.executable, ["-m", "mcp_servers.cli", server]


def params(
    server: str, grpc_addr: str, data_dir: Path, technician: str = "alice"
) -> StdioServerParameters:
    cmd, args = command(server)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "OMEGA_GRPC_ADDR": grpc_addr,
        "OMEGA_DATA_DIR": str(data_dir),
        "OMEGA_MCP_TENANT": "default",
        "OMEGA_MCP_TECHNICIAN": technician,
    }
    return StdioServerParameters(command=cmd, args=args, env=env, cwd=str(REPO))


@pytest.mark.timeout(60)
async def test_stdio_triage_server_lists_and_calls_tools(rig: Rig, tmp_path: Path) -> None:
    p = params("triage", rig.mesh.grpc_target, rig.mesh.settings.data_dir)
    with (tmp_path / "stderr.txt").open("w") as errlog:
        async with Client(stdio_client(p, errlog=errlog)) as c:
            tools = (await c.list_tools()).tools
            assert {t.name for t in tools} == TRIAGE_TOOLS
            check_tool_contract(tools)
            r = await c.call_tool("triage_ticket", {"text": "the printer jams on every page"})
            assert (
                not r.is_error and r.structured_content["triage"]["category"]["label"] == "Printing"
            )
            r = await c.call_tool("get_ticket", {"ticket_id": rig.printer_id})
            assert not r.is_error and r.structured_content["id"] == rig.printer_id
            for ticket_id in (rig.other_id, "tkt_unknown"):
                r = await c.call_tool("get_ticket", {"ticket_id": ticket_id})
                assert error_code(r) == "NOT_FOUND"


@pytest.mark.timeout(60)
async def test_stdio_shadow_server_acts_as_the_configured_technician(
    rig: Rig, tmp_path: Path
) -> None:
    p = params("shadow", rig.mesh.grpc_target, rig.mesh.settings.data_dir, technician="alice")
    with (tmp_path / "stderr.txt").open("w") as errlog:
        async with Client(stdio_client(p, errlog=errlog)) as c:
            tools = (await c.list_tools()).tools
            assert {t.name for t in tools} == SHADOW_TOOLS
            r = await c.call_tool("my_queue", {})
            assert not r.is_error
            assert rig.printer_id in {e["ticket"]["id"] for e in r.structured_content["entries"]}


@pytest.mark.timeout(60)
async def test_stdio_says_clearly_when_no_omega_is_reachable(tmp_path: Path) -> None:
    p = params("triage", "127.0.0.1:1", tmp_path)
    log = tmp_path / "stderr.txt"
    with log.open("w") as errlog:
        async with Client(stdio_client(p, errlog=errlog)) as c:
            r = await c.call_tool("get_ticket", {"ticket_id": "x"})
            assert error_code(r) == "UNAVAILABLE"
            assert "omega up" in r.content[0].text
    assert "no OMEGA is reachable at 127.0.0.1:1" in log.read_text()
