from omega.tickets.v1 import ticket_pb2 as _ticket_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TriageTicketRequest(_message.Message):
    __slots__ = ("tenant", "title", "description", "payload", "source", "similar_count")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SIMILAR_COUNT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    title: str
    description: str
    payload: bytes
    source: _ticket_pb2.SourceSystem
    similar_count: int
    def __init__(self, tenant: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., payload: _Optional[bytes] = ..., source: _Optional[_Union[_ticket_pb2.SourceSystem, str]] = ..., similar_count: _Optional[int] = ...) -> None: ...

class TriageTicketResponse(_message.Message):
    __slots__ = ("triage", "title", "description", "source")
    TRIAGE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    triage: _ticket_pb2.Triage
    title: str
    description: str
    source: _ticket_pb2.SourceSystem
    def __init__(self, triage: _Optional[_Union[_ticket_pb2.Triage, _Mapping]] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., source: _Optional[_Union[_ticket_pb2.SourceSystem, str]] = ...) -> None: ...

class FindSimilarTicketsRequest(_message.Message):
    __slots__ = ("tenant", "ticket_id", "text", "page_size")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    ticket_id: str
    text: str
    page_size: int
    def __init__(self, tenant: _Optional[str] = ..., ticket_id: _Optional[str] = ..., text: _Optional[str] = ..., page_size: _Optional[int] = ...) -> None: ...

class FindSimilarTicketsResponse(_message.Message):
    __slots__ = ("similar",)
    SIMILAR_FIELD_NUMBER: _ClassVar[int]
    similar: _containers.RepeatedCompositeFieldContainer[_ticket_pb2.SimilarTicket]
    def __init__(self, similar: _Optional[_Iterable[_Union[_ticket_pb2.SimilarTicket, _Mapping]]] = ...) -> None: ...

class ListCategoriesRequest(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    def __init__(self, tenant: _Optional[str] = ...) -> None: ...

class ListCategoriesResponse(_message.Message):
    __slots__ = ("categories", "model_version")
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    categories: _containers.RepeatedScalarFieldContainer[str]
    model_version: str
    def __init__(self, categories: _Optional[_Iterable[str]] = ..., model_version: _Optional[str] = ...) -> None: ...
