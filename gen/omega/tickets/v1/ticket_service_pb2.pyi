from omega.tickets.v1 import ticket_pb2 as _ticket_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetTicketRequest(_message.Message):
    __slots__ = ("tenant", "ticket_id")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    ticket_id: str
    def __init__(self, tenant: _Optional[str] = ..., ticket_id: _Optional[str] = ...) -> None: ...

class GetTicketResponse(_message.Message):
    __slots__ = ("ticket",)
    TICKET_FIELD_NUMBER: _ClassVar[int]
    ticket: _ticket_pb2.Ticket
    def __init__(self, ticket: _Optional[_Union[_ticket_pb2.Ticket, _Mapping]] = ...) -> None: ...

class ListTicketsRequest(_message.Message):
    __slots__ = ("tenant", "page_size", "page_token", "state")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    page_size: int
    page_token: str
    state: _ticket_pb2.TicketState
    def __init__(self, tenant: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[_ticket_pb2.TicketState, str]] = ...) -> None: ...

class ListTicketsResponse(_message.Message):
    __slots__ = ("tickets", "next_page_token")
    TICKETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tickets: _containers.RepeatedCompositeFieldContainer[_ticket_pb2.Ticket]
    next_page_token: str
    def __init__(self, tickets: _Optional[_Iterable[_Union[_ticket_pb2.Ticket, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ConfirmProposalRequest(_message.Message):
    __slots__ = ("tenant", "proposal_id", "technician", "confirmation_token")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_FIELD_NUMBER: _ClassVar[int]
    CONFIRMATION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    proposal_id: str
    technician: str
    confirmation_token: str
    def __init__(self, tenant: _Optional[str] = ..., proposal_id: _Optional[str] = ..., technician: _Optional[str] = ..., confirmation_token: _Optional[str] = ...) -> None: ...

class ConfirmProposalResponse(_message.Message):
    __slots__ = ("proposal",)
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    proposal: _ticket_pb2.Proposal
    def __init__(self, proposal: _Optional[_Union[_ticket_pb2.Proposal, _Mapping]] = ...) -> None: ...

class RejectProposalRequest(_message.Message):
    __slots__ = ("tenant", "proposal_id", "technician", "reason", "category", "priority", "queue")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    proposal_id: str
    technician: str
    reason: str
    category: str
    priority: str
    queue: str
    def __init__(self, tenant: _Optional[str] = ..., proposal_id: _Optional[str] = ..., technician: _Optional[str] = ..., reason: _Optional[str] = ..., category: _Optional[str] = ..., priority: _Optional[str] = ..., queue: _Optional[str] = ...) -> None: ...

class RejectProposalResponse(_message.Message):
    __slots__ = ("proposal",)
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    proposal: _ticket_pb2.Proposal
    def __init__(self, proposal: _Optional[_Union[_ticket_pb2.Proposal, _Mapping]] = ...) -> None: ...

class CorrectTriageRequest(_message.Message):
    __slots__ = ("tenant", "ticket_id", "technician", "category", "priority", "queue")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    ticket_id: str
    technician: str
    category: str
    priority: str
    queue: str
    def __init__(self, tenant: _Optional[str] = ..., ticket_id: _Optional[str] = ..., technician: _Optional[str] = ..., category: _Optional[str] = ..., priority: _Optional[str] = ..., queue: _Optional[str] = ...) -> None: ...

class CorrectTriageResponse(_message.Message):
    __slots__ = ("ticket",)
    TICKET_FIELD_NUMBER: _ClassVar[int]
    ticket: _ticket_pb2.Ticket
    def __init__(self, ticket: _Optional[_Union[_ticket_pb2.Ticket, _Mapping]] = ...) -> None: ...

class ResolveTicketRequest(_message.Message):
    __slots__ = ("tenant", "ticket_id", "technician", "resolution")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    ticket_id: str
    technician: str
    resolution: str
    def __init__(self, tenant: _Optional[str] = ..., ticket_id: _Optional[str] = ..., technician: _Optional[str] = ..., resolution: _Optional[str] = ...) -> None: ...

class ResolveTicketResponse(_message.Message):
    __slots__ = ("ticket", "resolution_id")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_ID_FIELD_NUMBER: _ClassVar[int]
    ticket: _ticket_pb2.Ticket
    resolution_id: str
    def __init__(self, ticket: _Optional[_Union[_ticket_pb2.Ticket, _Mapping]] = ..., resolution_id: _Optional[str] = ...) -> None: ...
