import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Transport(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSPORT_UNSPECIFIED: _ClassVar[Transport]
    TRANSPORT_STDIO: _ClassVar[Transport]
    TRANSPORT_STREAMABLE_HTTP: _ClassVar[Transport]

class MatchKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MATCH_KIND_UNSPECIFIED: _ClassVar[MatchKind]
    MATCH_KIND_NAME: _ClassVar[MatchKind]
    MATCH_KIND_CAPABILITY: _ClassVar[MatchKind]
    MATCH_KIND_SEMANTIC: _ClassVar[MatchKind]
    MATCH_KIND_LEXICAL: _ClassVar[MatchKind]
TRANSPORT_UNSPECIFIED: Transport
TRANSPORT_STDIO: Transport
TRANSPORT_STREAMABLE_HTTP: Transport
MATCH_KIND_UNSPECIFIED: MatchKind
MATCH_KIND_NAME: MatchKind
MATCH_KIND_CAPABILITY: MatchKind
MATCH_KIND_SEMANTIC: MatchKind
MATCH_KIND_LEXICAL: MatchKind

class Tool(_message.Message):
    __slots__ = ("name", "description", "input_schema_json", "output_schema_json", "capabilities", "read_only", "destructive")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    INPUT_SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    DESTRUCTIVE_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    input_schema_json: str
    output_schema_json: str
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    read_only: bool
    destructive: bool
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., input_schema_json: _Optional[str] = ..., output_schema_json: _Optional[str] = ..., capabilities: _Optional[_Iterable[str]] = ..., read_only: _Optional[bool] = ..., destructive: _Optional[bool] = ...) -> None: ...

class McpServer(_message.Message):
    __slots__ = ("name", "version", "description", "transport", "url", "command", "args", "tools", "capabilities", "schema_drift", "drifted_tools", "register_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_DRIFT_FIELD_NUMBER: _ClassVar[int]
    DRIFTED_TOOLS_FIELD_NUMBER: _ClassVar[int]
    REGISTER_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    description: str
    transport: Transport
    url: str
    command: str
    args: _containers.RepeatedScalarFieldContainer[str]
    tools: _containers.RepeatedCompositeFieldContainer[Tool]
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    schema_drift: bool
    drifted_tools: _containers.RepeatedScalarFieldContainer[str]
    register_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., description: _Optional[str] = ..., transport: _Optional[_Union[Transport, str]] = ..., url: _Optional[str] = ..., command: _Optional[str] = ..., args: _Optional[_Iterable[str]] = ..., tools: _Optional[_Iterable[_Union[Tool, _Mapping]]] = ..., capabilities: _Optional[_Iterable[str]] = ..., schema_drift: _Optional[bool] = ..., drifted_tools: _Optional[_Iterable[str]] = ..., register_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RegisterServerRequest(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: McpServer
    def __init__(self, server: _Optional[_Union[McpServer, _Mapping]] = ...) -> None: ...

class RegisterServerResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: McpServer
    def __init__(self, server: _Optional[_Union[McpServer, _Mapping]] = ...) -> None: ...

class GetServerRequest(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class GetServerResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: McpServer
    def __init__(self, server: _Optional[_Union[McpServer, _Mapping]] = ...) -> None: ...

class ListServersRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListServersResponse(_message.Message):
    __slots__ = ("servers", "next_page_token")
    SERVERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    servers: _containers.RepeatedCompositeFieldContainer[McpServer]
    next_page_token: str
    def __init__(self, servers: _Optional[_Iterable[_Union[McpServer, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class FindToolsRequest(_message.Message):
    __slots__ = ("tenant", "name", "capability", "semantic_query", "page_size")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CAPABILITY_FIELD_NUMBER: _ClassVar[int]
    SEMANTIC_QUERY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    name: str
    capability: str
    semantic_query: str
    page_size: int
    def __init__(self, tenant: _Optional[str] = ..., name: _Optional[str] = ..., capability: _Optional[str] = ..., semantic_query: _Optional[str] = ..., page_size: _Optional[int] = ...) -> None: ...

class ToolMatch(_message.Message):
    __slots__ = ("server_name", "server_version", "tool", "score", "match_kind", "schema_drift")
    SERVER_NAME_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    TOOL_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    MATCH_KIND_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_DRIFT_FIELD_NUMBER: _ClassVar[int]
    server_name: str
    server_version: str
    tool: Tool
    score: float
    match_kind: MatchKind
    schema_drift: bool
    def __init__(self, server_name: _Optional[str] = ..., server_version: _Optional[str] = ..., tool: _Optional[_Union[Tool, _Mapping]] = ..., score: _Optional[float] = ..., match_kind: _Optional[_Union[MatchKind, str]] = ..., schema_drift: _Optional[bool] = ...) -> None: ...

class FindToolsResponse(_message.Message):
    __slots__ = ("matches",)
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    matches: _containers.RepeatedCompositeFieldContainer[ToolMatch]
    def __init__(self, matches: _Optional[_Iterable[_Union[ToolMatch, _Mapping]]] = ...) -> None: ...

class SetToolAllowListRequest(_message.Message):
    __slots__ = ("tenant", "patterns")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    PATTERNS_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    patterns: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tenant: _Optional[str] = ..., patterns: _Optional[_Iterable[str]] = ...) -> None: ...

class SetToolAllowListResponse(_message.Message):
    __slots__ = ("patterns",)
    PATTERNS_FIELD_NUMBER: _ClassVar[int]
    patterns: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, patterns: _Optional[_Iterable[str]] = ...) -> None: ...

class GetToolAllowListRequest(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    def __init__(self, tenant: _Optional[str] = ...) -> None: ...

class GetToolAllowListResponse(_message.Message):
    __slots__ = ("patterns", "is_default")
    PATTERNS_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    patterns: _containers.RepeatedScalarFieldContainer[str]
    is_default: bool
    def __init__(self, patterns: _Optional[_Iterable[str]] = ..., is_default: _Optional[bool] = ...) -> None: ...
