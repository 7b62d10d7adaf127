"""Every OMEGA MCP server registers itself and its tools in the MCP Registry.

``ServerRegistration`` is the port; ``InProcessRegistrations`` is the embedded default (kept in
the mesh's memory), ``GrpcMcpRegistry`` the adapter for omega.mcpregistry.v1.McpRegistryService.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import grpc
from mcp.server.mcpserver import MCPServer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolRecord:
    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    read_only: bool
    destructive: bool
    capabilities: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServerRecord:
    """A server.json-style description of one MCP server and how to reach it."""

    name: str
    version: str
    description: str
    transport: Literal["streamable_http", "stdio"]
    url: str = ""
    command: str = ""
    args: tuple[str, ...] = ()
    tools: tuple[ToolRecord, ...] = ()
    capabilities: tuple[str, ...] = field(default_factory=tuple)


class ServerRegistration(Protocol):
    async def register(self, record: ServerRecord) -> None: ...


class InProcessRegistrations:
    """The embedded default: the latest record per (name, transport), in memory."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], ServerRecord] = {}

    async def register(self, record: ServerRecord) -> None:
        self.records[(record.name, record.transport)] = record


class GrpcMcpRegistry:
    """Registers records with omega.mcpregistry.v1.McpRegistryService over a channel."""

    def __init__(self, channel: grpc.aio.Channel, *, timeout_s: float = 5.0) -> None:
        from omega.mcpregistry.v1 import mcp_registry_pb2_grpc

        self._stub = mcp_registry_pb2_grpc.McpRegistryServiceStub(channel)
        self._timeout_s = timeout_s

    async def register(self, record: ServerRecord) -> None:
        from omega.mcpregistry.v1 import mcp_registry_pb2 as pb

        transport = (
            pb.TRANSPORT_STREAMABLE_HTTP
            if record.transport == "streamable_http"
            else pb.TRANSPORT_STDIO
        )
        msg = pb.McpServer(
            name=record.name,
            version=record.version,
            description=record.description,
            transport=transport,
            url=record.url,
            command=record.command,
            args=list(record.args),
            capabilities=list(record.capabilities),
            tools=[
                pb.Tool(
                    name=t.name,
                    description=t.description,
                    input_schema_json=json.dumps(t.input_schema, sort_keys=True),
                    output_schema_json=json.dumps(t.output_schema, sort_keys=True)
                    if t.output_schema
                    else "",
                    capabilities=list(t.capabilities),
                    read_only=t.read_only,
                    destructive=t.destructive,
                )
                for t in record.tools
            ],
        )
        await self._stub.RegisterServer(
            pb.RegisterServerRequest(server=msg), timeout=self._timeout_s
        )


async def describe(
    server: MCPServer,
    *,
    transport: Literal["streamable_http", "stdio"],
    url: str = "",
    command: str = "",
    args: tuple[str, ...] = (),
    capabilities: tuple[str, ...] = (),
) -> ServerRecord:
    """The record of ``server`` as it lists its tools. The registry keeps one transport per
    name, so a stdio record is named ``<server name>-stdio`` (the HTTP one keeps the name)."""
    tools = []
    for tool in await server.list_tools():
        ann = tool.annotations
        read_only = bool(ann and ann.read_only_hint)
        tools.append(
            ToolRecord(
                name=tool.name,
                description=tool.description or "",
                input_schema=dict(tool.input_schema),
                output_schema=dict(tool.output_schema) if tool.output_schema else None,
                read_only=read_only,
                destructive=bool(ann and not read_only and ann.destructive_hint is not False),
                capabilities=capabilities,
            )
        )
    return ServerRecord(
        name=server.name if transport == "streamable_http" else f"{server.name}-stdio",
        version=server.version,
        description=server.instructions or "",
        transport=transport,
        url=url,
        command=command,
        args=args,
        tools=tuple(tools),
        capabilities=capabilities,
    )


async def register_quietly(registry: ServerRegistration, record: ServerRecord) -> bool:
    """Register; a registry that is down must not stop the server from serving."""
    try:
        await registry.register(record)
        return True
    except grpc.aio.AioRpcError as err:
        log.warning("could not register MCP server %s: %s", record.name, err.code().name)
        return False
    except Exception:  # noqa: BLE001 - registration is best effort, retried on next start
        log.warning("could not register MCP server %s", record.name, exc_info=True)
        return False
