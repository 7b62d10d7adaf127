import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MemoryKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEMORY_KIND_UNSPECIFIED: _ClassVar[MemoryKind]
    MEMORY_KIND_RESOLVED_TICKET: _ClassVar[MemoryKind]
    MEMORY_KIND_TECHNICIAN_NOTE: _ClassVar[MemoryKind]
    MEMORY_KIND_KB_ARTICLE: _ClassVar[MemoryKind]
    MEMORY_KIND_CONVERSATION_TURN: _ClassVar[MemoryKind]
MEMORY_KIND_UNSPECIFIED: MemoryKind
MEMORY_KIND_RESOLVED_TICKET: MemoryKind
MEMORY_KIND_TECHNICIAN_NOTE: MemoryKind
MEMORY_KIND_KB_ARTICLE: MemoryKind
MEMORY_KIND_CONVERSATION_TURN: MemoryKind

class Memory(_message.Message):
    __slots__ = ("memory_id", "tenant", "kind", "text", "metadata", "source_ticket_id", "confirmed", "create_time", "expire_time", "resolution")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MEMORY_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    memory_id: str
    tenant: str
    kind: MemoryKind
    text: str
    metadata: _containers.ScalarMap[str, str]
    source_ticket_id: str
    confirmed: bool
    create_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    resolution: str
    def __init__(self, memory_id: _Optional[str] = ..., tenant: _Optional[str] = ..., kind: _Optional[_Union[MemoryKind, str]] = ..., text: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., source_ticket_id: _Optional[str] = ..., confirmed: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resolution: _Optional[str] = ...) -> None: ...

class RememberRequest(_message.Message):
    __slots__ = ("tenant", "kind", "text", "resolution", "metadata", "source_ticket_id", "confirmed", "ttl_seconds", "subject_ids", "redact_names", "embedding")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TENANT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_IDS_FIELD_NUMBER: _ClassVar[int]
    REDACT_NAMES_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    kind: MemoryKind
    text: str
    resolution: str
    metadata: _containers.ScalarMap[str, str]
    source_ticket_id: str
    confirmed: bool
    ttl_seconds: int
    subject_ids: _containers.RepeatedScalarFieldContainer[str]
    redact_names: _containers.RepeatedScalarFieldContainer[str]
    embedding: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, tenant: _Optional[str] = ..., kind: _Optional[_Union[MemoryKind, str]] = ..., text: _Optional[str] = ..., resolution: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., source_ticket_id: _Optional[str] = ..., confirmed: _Optional[bool] = ..., ttl_seconds: _Optional[int] = ..., subject_ids: _Optional[_Iterable[str]] = ..., redact_names: _Optional[_Iterable[str]] = ..., embedding: _Optional[_Iterable[float]] = ...) -> None: ...

class RememberResponse(_message.Message):
    __slots__ = ("memory", "deduplicated", "redactions")
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    DEDUPLICATED_FIELD_NUMBER: _ClassVar[int]
    REDACTIONS_FIELD_NUMBER: _ClassVar[int]
    memory: Memory
    deduplicated: bool
    redactions: int
    def __init__(self, memory: _Optional[_Union[Memory, _Mapping]] = ..., deduplicated: _Optional[bool] = ..., redactions: _Optional[int] = ...) -> None: ...

class RecallRequest(_message.Message):
    __slots__ = ("tenant", "query", "embedding", "metadata_filter", "kinds", "only_confirmed", "top_k")
    class MetadataFilterEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TENANT_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    METADATA_FILTER_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    ONLY_CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    query: str
    embedding: _containers.RepeatedScalarFieldContainer[float]
    metadata_filter: _containers.ScalarMap[str, str]
    kinds: _containers.RepeatedScalarFieldContainer[MemoryKind]
    only_confirmed: bool
    top_k: int
    def __init__(self, tenant: _Optional[str] = ..., query: _Optional[str] = ..., embedding: _Optional[_Iterable[float]] = ..., metadata_filter: _Optional[_Mapping[str, str]] = ..., kinds: _Optional[_Iterable[_Union[MemoryKind, str]]] = ..., only_confirmed: _Optional[bool] = ..., top_k: _Optional[int] = ...) -> None: ...

class RecallHit(_message.Message):
    __slots__ = ("memory", "score", "semantic_score", "keyword_score", "matched_terms", "why")
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SEMANTIC_SCORE_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_SCORE_FIELD_NUMBER: _ClassVar[int]
    MATCHED_TERMS_FIELD_NUMBER: _ClassVar[int]
    WHY_FIELD_NUMBER: _ClassVar[int]
    memory: Memory
    score: float
    semantic_score: float
    keyword_score: float
    matched_terms: _containers.RepeatedScalarFieldContainer[str]
    why: str
    def __init__(self, memory: _Optional[_Union[Memory, _Mapping]] = ..., score: _Optional[float] = ..., semantic_score: _Optional[float] = ..., keyword_score: _Optional[float] = ..., matched_terms: _Optional[_Iterable[str]] = ..., why: _Optional[str] = ...) -> None: ...

class RecallResponse(_message.Message):
    __slots__ = ("hits",)
    HITS_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[RecallHit]
    def __init__(self, hits: _Optional[_Iterable[_Union[RecallHit, _Mapping]]] = ...) -> None: ...

class GetMemoryRequest(_message.Message):
    __slots__ = ("tenant", "memory_id")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_ID_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    memory_id: str
    def __init__(self, tenant: _Optional[str] = ..., memory_id: _Optional[str] = ...) -> None: ...

class GetMemoryResponse(_message.Message):
    __slots__ = ("memory",)
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    memory: Memory
    def __init__(self, memory: _Optional[_Union[Memory, _Mapping]] = ...) -> None: ...

class ForgetRequest(_message.Message):
    __slots__ = ("tenant", "subject_id", "source_ticket_id", "entire_tenant", "memory_id", "requested_by", "reason")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    ENTIRE_TENANT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    subject_id: str
    source_ticket_id: str
    entire_tenant: bool
    memory_id: str
    requested_by: str
    reason: str
    def __init__(self, tenant: _Optional[str] = ..., subject_id: _Optional[str] = ..., source_ticket_id: _Optional[str] = ..., entire_tenant: _Optional[bool] = ..., memory_id: _Optional[str] = ..., requested_by: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ForgetResponse(_message.Message):
    __slots__ = ("memories_deleted", "sessions_deleted", "audit_record_id", "erase_time")
    MEMORIES_DELETED_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_DELETED_FIELD_NUMBER: _ClassVar[int]
    AUDIT_RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    ERASE_TIME_FIELD_NUMBER: _ClassVar[int]
    memories_deleted: int
    sessions_deleted: int
    audit_record_id: str
    erase_time: _timestamp_pb2.Timestamp
    def __init__(self, memories_deleted: _Optional[int] = ..., sessions_deleted: _Optional[int] = ..., audit_record_id: _Optional[str] = ..., erase_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PutSessionStateRequest(_message.Message):
    __slots__ = ("tenant", "session_id", "state", "ttl_seconds", "subject_ids")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_IDS_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    session_id: str
    state: bytes
    ttl_seconds: int
    subject_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tenant: _Optional[str] = ..., session_id: _Optional[str] = ..., state: _Optional[bytes] = ..., ttl_seconds: _Optional[int] = ..., subject_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class PutSessionStateResponse(_message.Message):
    __slots__ = ("expire_time",)
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetSessionStateRequest(_message.Message):
    __slots__ = ("tenant", "session_id")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    session_id: str
    def __init__(self, tenant: _Optional[str] = ..., session_id: _Optional[str] = ...) -> None: ...

class GetSessionStateResponse(_message.Message):
    __slots__ = ("state", "expire_time")
    STATE_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    state: bytes
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, state: _Optional[bytes] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DeleteSessionStateRequest(_message.Message):
    __slots__ = ("tenant", "session_id")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    session_id: str
    def __init__(self, tenant: _Optional[str] = ..., session_id: _Optional[str] = ...) -> None: ...

class DeleteSessionStateResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: _Optional[bool] = ...) -> None: ...
