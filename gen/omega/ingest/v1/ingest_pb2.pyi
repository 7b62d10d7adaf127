import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from omega.tickets.v1 import ticket_pb2 as _ticket_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IngestTicketRequest(_message.Message):
    __slots__ = ("tenant", "source", "payload", "received_via")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_VIA_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    source: _ticket_pb2.SourceSystem
    payload: bytes
    received_via: str
    def __init__(self, tenant: _Optional[str] = ..., source: _Optional[_Union[_ticket_pb2.SourceSystem, str]] = ..., payload: _Optional[bytes] = ..., received_via: _Optional[str] = ...) -> None: ...

class IngestTicketResponse(_message.Message):
    __slots__ = ("ticket_id", "duplicate", "raw_payload_id", "source", "ignored", "ignored_reason")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    RAW_PAYLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    IGNORED_FIELD_NUMBER: _ClassVar[int]
    IGNORED_REASON_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    duplicate: bool
    raw_payload_id: str
    source: _ticket_pb2.SourceSystem
    ignored: bool
    ignored_reason: str
    def __init__(self, ticket_id: _Optional[str] = ..., duplicate: _Optional[bool] = ..., raw_payload_id: _Optional[str] = ..., source: _Optional[_Union[_ticket_pb2.SourceSystem, str]] = ..., ignored: _Optional[bool] = ..., ignored_reason: _Optional[str] = ...) -> None: ...

class BatchIngestTicketsRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[IngestTicketRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[IngestTicketRequest, _Mapping]]] = ...) -> None: ...

class BatchIngestResult(_message.Message):
    __slots__ = ("response", "error_code", "error_message")
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    response: IngestTicketResponse
    error_code: int
    error_message: str
    def __init__(self, response: _Optional[_Union[IngestTicketResponse, _Mapping]] = ..., error_code: _Optional[int] = ..., error_message: _Optional[str] = ...) -> None: ...

class BatchIngestTicketsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[BatchIngestResult]
    def __init__(self, results: _Optional[_Iterable[_Union[BatchIngestResult, _Mapping]]] = ...) -> None: ...

class DeadLetter(_message.Message):
    __slots__ = ("id", "tenant", "stage", "reason", "raw_payload_id", "ticket_id", "attempts", "create_time", "source", "replayed")
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RAW_PAYLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant: str
    stage: str
    reason: str
    raw_payload_id: str
    ticket_id: str
    attempts: int
    create_time: _timestamp_pb2.Timestamp
    source: _ticket_pb2.SourceSystem
    replayed: bool
    def __init__(self, id: _Optional[str] = ..., tenant: _Optional[str] = ..., stage: _Optional[str] = ..., reason: _Optional[str] = ..., raw_payload_id: _Optional[str] = ..., ticket_id: _Optional[str] = ..., attempts: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source: _Optional[_Union[_ticket_pb2.SourceSystem, str]] = ..., replayed: _Optional[bool] = ...) -> None: ...

class ListDeadLettersRequest(_message.Message):
    __slots__ = ("tenant", "page_size", "page_token", "include_replayed")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_REPLAYED_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    page_size: int
    page_token: str
    include_replayed: bool
    def __init__(self, tenant: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., include_replayed: _Optional[bool] = ...) -> None: ...

class ListDeadLettersResponse(_message.Message):
    __slots__ = ("dead_letters", "next_page_token")
    DEAD_LETTERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    dead_letters: _containers.RepeatedCompositeFieldContainer[DeadLetter]
    next_page_token: str
    def __init__(self, dead_letters: _Optional[_Iterable[_Union[DeadLetter, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ReplayDeadLetterRequest(_message.Message):
    __slots__ = ("tenant", "dead_letter_id", "source")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTER_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    dead_letter_id: str
    source: _ticket_pb2.SourceSystem
    def __init__(self, tenant: _Optional[str] = ..., dead_letter_id: _Optional[str] = ..., source: _Optional[_Union[_ticket_pb2.SourceSystem, str]] = ...) -> None: ...

class ReplayDeadLetterResponse(_message.Message):
    __slots__ = ("ticket_id",)
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    def __init__(self, ticket_id: _Optional[str] = ...) -> None: ...
