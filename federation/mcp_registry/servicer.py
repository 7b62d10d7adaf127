"""omega.mcpregistry.v1.McpRegistryService: proto ↔ domain translation only."""

from __future__ import annotations

import grpc
from omega.mcpregistry.v1 import mcp_registry_pb2 as pb
from omega.mcpregistry.v1 import mcp_registry_pb2_grpc

from federation.errors import InvalidArgument
from federation.mcp_registry.service import (
    MatchKind,
    McpRegistry,
    McpServer,
    Tool,
    ToolMatch,
    Transport,
)
from federation.registry.servicer import timestamp
from federation.tenancy import resolve_tenant

TRANSPORT_TO_PROTO: dict[Transport, int] = {
    Transport.STDIO: pb.TRANSPORT_STDIO,
    Transport.STREAMABLE_HTTP: pb.TRANSPORT_STREAMABLE_HTTP,
}
PROTO_TO_TRANSPORT = {v: k for k, v in TRANSPORT_TO_PROTO.items()}
KIND_TO_PROTO: dict[MatchKind, int] = {
    MatchKind.NAME: pb.MATCH_KIND_NAME,
    MatchKind.CAPABILITY: pb.MATCH_KIND_CAPABILITY,
    MatchKind.SEMANTIC: pb.MATCH_KIND_SEMANTIC,
    MatchKind.LEXICAL: pb.MATCH_KIND_LEXICAL,
}
MAX_PAGE = 1000


def tool_from_proto(msg: pb.Tool) -> Tool:
    return Tool(
        name=msg.name,
        description=msg.description,
        input_schema_json=msg.input_schema_json or "{}",
        output_schema_json=msg.output_schema_json,
        capabilities=tuple(msg.capabilities),
        read_only=msg.read_only,
        destructive=msg.destructive,
    )


def tool_to_proto(tool: Tool) -> pb.Tool:
    return pb.Tool(
        name=tool.name,
        description=tool.description,
        input_schema_json=tool.input_schema_json,
        output_schema_json=tool.output_schema_json,
        capabilities=list(tool.capabilities),
        read_only=tool.read_only,
        destructive=tool.destructive,
    )


def server_from_proto(msg: pb.McpServer) -> McpServer:
    try:
        transport = PROTO_TO_TRANSPORT[msg.transport]
    except KeyError:
        raise InvalidArgument("transport must be stdio or streamable-http", reason="BAD_MCP_SERVER") from None
    return McpServer(
        name=msg.name,
        version=msg.version,
        transport=transport,
        tools=tuple(tool_from_proto(t) for t in msg.tools),
        description=msg.description,
        url=msg.url,
        command=msg.command,
        args=tuple(msg.args),
        capabilities=tuple(msg.capabilities),
    )


def server_to_proto(server: McpServer) -> pb.McpServer:
    return pb.McpServer(
        name=server.name,
        version=server.version,
        description=server.description,
        transport=TRANSPORT_TO_PROTO[server.transport],
        url=server.url,
        command=server.command,
        args=list(server.args),
        tools=[tool_to_proto(t) for t in server.tools],
        capabilities=list(server.capabilities),
        schema_drift=server.schema_drift,
        drifted_tools=list(server.drifted_tools),
        register_time=timestamp(server.registered_at),
        update_time=timestamp(server.updated_at),
    )


def match_to_proto(m: ToolMatch) -> pb.ToolMatch:
    return pb.ToolMatch(
        server_name=m.server.name,
        server_version=m.server.version,
        tool=tool_to_proto(m.tool),
        score=m.score,
        match_kind=KIND_TO_PROTO[m.kind],
        schema_drift=m.server.schema_drift,
    )


class McpRegistryServicer(mcp_registry_pb2_grpc.McpRegistryServiceServicer):  # type: ignore[misc]
    """Translates omega.mcpregistry.v1 calls to :class:`McpRegistry`."""

    def __init__(self, registry: McpRegistry, default_tenant: str) -> None:
        self._registry = registry
        self._default_tenant = default_tenant

    async def RegisterServer(
        self, request: pb.RegisterServerRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterServerResponse:
        stored = await self._registry.register(server_from_proto(request.server))
        return pb.RegisterServerResponse(server=server_to_proto(stored))

    async def GetServer(
        self, request: pb.GetServerRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetServerResponse:
        server = await self._registry.get(request.name, request.version)
        return pb.GetServerResponse(server=server_to_proto(server))

    async def ListServers(
        self, request: pb.ListServersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListServersResponse:
        if request.page_size < 0:
            raise InvalidArgument("page_size must be >= 0", reason="BAD_PAGE_SIZE")
        size = min(MAX_PAGE, request.page_size or 100)
        servers = [s for s in await self._registry.list_servers() if s.name > request.page_token]
        page = servers[:size]
        token = page[-1].name if len(servers) > size else ""
        return pb.ListServersResponse(
            servers=[server_to_proto(s) for s in page], next_page_token=token
        )

    async def FindTools(
        self, request: pb.FindToolsRequest, context: grpc.aio.ServicerContext
    ) -> pb.FindToolsResponse:
        if request.page_size < 0:
            raise InvalidArgument("page_size must be >= 0", reason="BAD_PAGE_SIZE")
        matches = await self._registry.find_tools(
            resolve_tenant(request.tenant, self._default_tenant),
            name=request.name,
            capability=request.capability,
            query=request.semantic_query,
            limit=min(100, request.page_size or 10),
        )
        return pb.FindToolsResponse(matches=[match_to_proto(m) for m in matches])

    async def SetToolAllowList(
        self, request: pb.SetToolAllowListRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetToolAllowListResponse:
        allow = await self._registry.set_allow_list(
            resolve_tenant(request.tenant, self._default_tenant), request.patterns
        )
        return pb.SetToolAllowListResponse(patterns=list(allow.patterns))

    async def GetToolAllowList(
        self, request: pb.GetToolAllowListRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetToolAllowListResponse:
        allow = await self._registry.allow_list(resolve_tenant(request.tenant, self._default_tenant))
        return pb.GetToolAllowListResponse(patterns=list(allow.patterns), is_default=allow.is_default)
