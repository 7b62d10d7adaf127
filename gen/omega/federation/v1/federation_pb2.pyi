import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from omega.registry.v1 import registry_pb2 as _registry_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CandidateVerdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CANDIDATE_VERDICT_UNSPECIFIED: _ClassVar[CandidateVerdict]
    CANDIDATE_VERDICT_CHOSEN: _ClassVar[CandidateVerdict]
    CANDIDATE_VERDICT_RANKED_LOWER: _ClassVar[CandidateVerdict]
    CANDIDATE_VERDICT_LOST: _ClassVar[CandidateVerdict]
    CANDIDATE_VERDICT_EXCLUDED: _ClassVar[CandidateVerdict]
    CANDIDATE_VERDICT_NOT_READY: _ClassVar[CandidateVerdict]
    CANDIDATE_VERDICT_NOT_AFFINE: _ClassVar[CandidateVerdict]

class ServiceEndpointSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SERVICE_ENDPOINT_SOURCE_UNSPECIFIED: _ClassVar[ServiceEndpointSource]
    SERVICE_ENDPOINT_SOURCE_CONFIGURATION: _ClassVar[ServiceEndpointSource]
    SERVICE_ENDPOINT_SOURCE_REGISTRATION: _ClassVar[ServiceEndpointSource]
CANDIDATE_VERDICT_UNSPECIFIED: CandidateVerdict
CANDIDATE_VERDICT_CHOSEN: CandidateVerdict
CANDIDATE_VERDICT_RANKED_LOWER: CandidateVerdict
CANDIDATE_VERDICT_LOST: CandidateVerdict
CANDIDATE_VERDICT_EXCLUDED: CandidateVerdict
CANDIDATE_VERDICT_NOT_READY: CandidateVerdict
CANDIDATE_VERDICT_NOT_AFFINE: CandidateVerdict
SERVICE_ENDPOINT_SOURCE_UNSPECIFIED: ServiceEndpointSource
SERVICE_ENDPOINT_SOURCE_CONFIGURATION: ServiceEndpointSource
SERVICE_ENDPOINT_SOURCE_REGISTRATION: ServiceEndpointSource

class RouteTaskRequest(_message.Message):
    __slots__ = ("tenant", "capability", "task_id", "affinity_key", "exclude_agent_ids")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    CAPABILITY_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    AFFINITY_KEY_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_AGENT_IDS_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    capability: str
    task_id: str
    affinity_key: str
    exclude_agent_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tenant: _Optional[str] = ..., capability: _Optional[str] = ..., task_id: _Optional[str] = ..., affinity_key: _Optional[str] = ..., exclude_agent_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class Candidate(_message.Message):
    __slots__ = ("agent_id", "agent_name", "verdict", "load", "affinity_score", "note")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    LOAD_FIELD_NUMBER: _ClassVar[int]
    AFFINITY_SCORE_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    agent_name: str
    verdict: CandidateVerdict
    load: float
    affinity_score: float
    note: str
    def __init__(self, agent_id: _Optional[str] = ..., agent_name: _Optional[str] = ..., verdict: _Optional[_Union[CandidateVerdict, str]] = ..., load: _Optional[float] = ..., affinity_score: _Optional[float] = ..., note: _Optional[str] = ...) -> None: ...

class RouteTaskResponse(_message.Message):
    __slots__ = ("agent", "reason", "candidates", "attempts", "candidates_considered")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_CONSIDERED_FIELD_NUMBER: _ClassVar[int]
    agent: _registry_pb2.Agent
    reason: str
    candidates: _containers.RepeatedCompositeFieldContainer[Candidate]
    attempts: int
    candidates_considered: int
    def __init__(self, agent: _Optional[_Union[_registry_pb2.Agent, _Mapping]] = ..., reason: _Optional[str] = ..., candidates: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ..., attempts: _Optional[int] = ..., candidates_considered: _Optional[int] = ...) -> None: ...

class ServiceEndpoint(_message.Message):
    __slots__ = ("service", "address", "source", "expire_time")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    service: str
    address: str
    source: ServiceEndpointSource
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, service: _Optional[str] = ..., address: _Optional[str] = ..., source: _Optional[_Union[ServiceEndpointSource, str]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ResolveServiceRequest(_message.Message):
    __slots__ = ("service",)
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    service: str
    def __init__(self, service: _Optional[str] = ...) -> None: ...

class ResolveServiceResponse(_message.Message):
    __slots__ = ("endpoints",)
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    endpoints: _containers.RepeatedCompositeFieldContainer[ServiceEndpoint]
    def __init__(self, endpoints: _Optional[_Iterable[_Union[ServiceEndpoint, _Mapping]]] = ...) -> None: ...

class RegisterServiceEndpointRequest(_message.Message):
    __slots__ = ("service", "address", "ttl")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    service: str
    address: str
    ttl: _duration_pb2.Duration
    def __init__(self, service: _Optional[str] = ..., address: _Optional[str] = ..., ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class RegisterServiceEndpointResponse(_message.Message):
    __slots__ = ("endpoint",)
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    endpoint: ServiceEndpoint
    def __init__(self, endpoint: _Optional[_Union[ServiceEndpoint, _Mapping]] = ...) -> None: ...

class ListServicesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListServicesResponse(_message.Message):
    __slots__ = ("endpoints", "next_page_token")
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    endpoints: _containers.RepeatedCompositeFieldContainer[ServiceEndpoint]
    next_page_token: str
    def __init__(self, endpoints: _Optional[_Iterable[_Union[ServiceEndpoint, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
