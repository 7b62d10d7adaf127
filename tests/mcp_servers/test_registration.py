"""Registration in the MCP Registry: the record a server describes, and the mesh registering
its HTTP servers with the McpRegistryService it serves (over gRPC)."""

from __future__ import annotations

import json

import pytest
from omega.mcpregistry.v1 import mcp_registry_pb2, mcp_registry_pb2_grpc

from mcp_servers import shadow, triage
from mcp_servers.registration import InProcessRegistrations, describe
from tests.mcp_servers.conftest import Rig

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_describe_records_every_tool_with_schemas_and_hints(rig: Rig) -> None:
    record = await describe(
        shadow.make_server(rig.deps()), transport="stdio", command="omega", args=("mcp", "shadow")
    )
    assert record.name == "io.omega/shadow-stdio" and record.command == "omega"
    by_name = {t.name: t for t in record.tools}
    assert by_name["confirm_action"].destructive and not by_name["confirm_action"].read_only
    assert by_name["my_queue"].read_only and not by_name["my_queue"].destructive
    assert by_name["correct_triage"].input_schema["properties"]["category"]["description"]
    registry = InProcessRegistrations()
    await registry.register(record)
    assert registry.records[("io.omega/shadow-stdio", "stdio")] is record


async def test_the_mesh_registers_its_mcp_servers_in_the_registry(rig: Rig) -> None:
    stub = mcp_registry_pb2_grpc.McpRegistryServiceStub(rig.client.channel)
    resp = await stub.GetServer(mcp_registry_pb2.GetServerRequest(name="io.omega/triage"))
    server = resp.server
    assert server.transport == mcp_registry_pb2.TRANSPORT_STREAMABLE_HTTP
    assert server.url.endswith("/mcp/triage")
    tools = {t.name: t for t in server.tools}
    local = await describe(triage.make_server(rig.deps()), transport="streamable_http", url="x")
    assert set(tools) == {t.name for t in local.tools}
    assert all(t.read_only for t in tools.values())
    assert json.loads(tools["triage_ticket"].input_schema_json)["properties"]["text"]
    combined = await stub.GetServer(mcp_registry_pb2.GetServerRequest(name="io.omega/omega"))
    assert "confirm_action" in {t.name for t in combined.server.tools}
