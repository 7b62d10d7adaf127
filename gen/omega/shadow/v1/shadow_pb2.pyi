from omega.tickets.v1 import ticket_pb2 as _ticket_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class QueueItem(_message.Message):
    __slots__ = ("ticket", "proposal", "sla_risk")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    SLA_RISK_FIELD_NUMBER: _ClassVar[int]
    ticket: _ticket_pb2.Ticket
    proposal: _ticket_pb2.Proposal
    sla_risk: float
    def __init__(self, ticket: _Optional[_Union[_ticket_pb2.Ticket, _Mapping]] = ..., proposal: _Optional[_Union[_ticket_pb2.Proposal, _Mapping]] = ..., sla_risk: _Optional[float] = ...) -> None: ...

class ListMyQueueRequest(_message.Message):
    __slots__ = ("tenant", "technician", "page_size")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    technician: str
    page_size: int
    def __init__(self, tenant: _Optional[str] = ..., technician: _Optional[str] = ..., page_size: _Optional[int] = ...) -> None: ...

class ListMyQueueResponse(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[QueueItem]
    def __init__(self, items: _Optional[_Iterable[_Union[QueueItem, _Mapping]]] = ...) -> None: ...

class GetSuggestionsRequest(_message.Message):
    __slots__ = ("tenant", "ticket_id", "technician")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    ticket_id: str
    technician: str
    def __init__(self, tenant: _Optional[str] = ..., ticket_id: _Optional[str] = ..., technician: _Optional[str] = ...) -> None: ...

class GetSuggestionsResponse(_message.Message):
    __slots__ = ("ticket", "proposal", "confirmation_token")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    CONFIRMATION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ticket: _ticket_pb2.Ticket
    proposal: _ticket_pb2.Proposal
    confirmation_token: str
    def __init__(self, ticket: _Optional[_Union[_ticket_pb2.Ticket, _Mapping]] = ..., proposal: _Optional[_Union[_ticket_pb2.Proposal, _Mapping]] = ..., confirmation_token: _Optional[str] = ...) -> None: ...

class ListProposalsRequest(_message.Message):
    __slots__ = ("tenant", "technician", "state", "page_size")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    technician: str
    state: _ticket_pb2.ProposalState
    page_size: int
    def __init__(self, tenant: _Optional[str] = ..., technician: _Optional[str] = ..., state: _Optional[_Union[_ticket_pb2.ProposalState, str]] = ..., page_size: _Optional[int] = ...) -> None: ...

class ListProposalsResponse(_message.Message):
    __slots__ = ("proposals",)
    PROPOSALS_FIELD_NUMBER: _ClassVar[int]
    proposals: _containers.RepeatedCompositeFieldContainer[_ticket_pb2.Proposal]
    def __init__(self, proposals: _Optional[_Iterable[_Union[_ticket_pb2.Proposal, _Mapping]]] = ...) -> None: ...

class RevertProposalRequest(_message.Message):
    __slots__ = ("tenant", "proposal_id", "technician")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    proposal_id: str
    technician: str
    def __init__(self, tenant: _Optional[str] = ..., proposal_id: _Optional[str] = ..., technician: _Optional[str] = ...) -> None: ...

class RevertProposalResponse(_message.Message):
    __slots__ = ("proposal",)
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    proposal: _ticket_pb2.Proposal
    def __init__(self, proposal: _Optional[_Union[_ticket_pb2.Proposal, _Mapping]] = ...) -> None: ...

class GetScorecardRequest(_message.Message):
    __slots__ = ("tenant", "window_days")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    window_days: float
    def __init__(self, tenant: _Optional[str] = ..., window_days: _Optional[float] = ...) -> None: ...

class DailyActivity(_message.Message):
    __slots__ = ("day", "confirmed", "rejected", "auto", "corrected")
    DAY_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    AUTO_FIELD_NUMBER: _ClassVar[int]
    CORRECTED_FIELD_NUMBER: _ClassVar[int]
    day: str
    confirmed: int
    rejected: int
    auto: int
    corrected: int
    def __init__(self, day: _Optional[str] = ..., confirmed: _Optional[int] = ..., rejected: _Optional[int] = ..., auto: _Optional[int] = ..., corrected: _Optional[int] = ...) -> None: ...

class GetScorecardResponse(_message.Message):
    __slots__ = ("auto_resolution_rate", "override_rate", "reopen_rate", "confident_but_wrong", "triage_time_p50_seconds", "proposal_time_p50_seconds", "sla_at_risk", "sla_breached", "tickets", "resolutions", "daily")
    AUTO_RESOLUTION_RATE_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_RATE_FIELD_NUMBER: _ClassVar[int]
    REOPEN_RATE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENT_BUT_WRONG_FIELD_NUMBER: _ClassVar[int]
    TRIAGE_TIME_P50_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PROPOSAL_TIME_P50_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SLA_AT_RISK_FIELD_NUMBER: _ClassVar[int]
    SLA_BREACHED_FIELD_NUMBER: _ClassVar[int]
    TICKETS_FIELD_NUMBER: _ClassVar[int]
    RESOLUTIONS_FIELD_NUMBER: _ClassVar[int]
    DAILY_FIELD_NUMBER: _ClassVar[int]
    auto_resolution_rate: float
    override_rate: float
    reopen_rate: float
    confident_but_wrong: int
    triage_time_p50_seconds: float
    proposal_time_p50_seconds: float
    sla_at_risk: int
    sla_breached: int
    tickets: int
    resolutions: int
    daily: _containers.RepeatedCompositeFieldContainer[DailyActivity]
    def __init__(self, auto_resolution_rate: _Optional[float] = ..., override_rate: _Optional[float] = ..., reopen_rate: _Optional[float] = ..., confident_but_wrong: _Optional[int] = ..., triage_time_p50_seconds: _Optional[float] = ..., proposal_time_p50_seconds: _Optional[float] = ..., sla_at_risk: _Optional[int] = ..., sla_breached: _Optional[int] = ..., tickets: _Optional[int] = ..., resolutions: _Optional[int] = ..., daily: _Optional[_Iterable[_Union[DailyActivity, _Mapping]]] = ...) -> None: ...

class Runbook(_message.Message):
    __slots__ = ("name", "title", "categories", "parameters", "unattended", "threshold", "dry_run", "undo")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    UNATTENDED_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    UNDO_FIELD_NUMBER: _ClassVar[int]
    name: str
    title: str
    categories: _containers.RepeatedScalarFieldContainer[str]
    parameters: _containers.RepeatedScalarFieldContainer[str]
    unattended: bool
    threshold: float
    dry_run: str
    undo: str
    def __init__(self, name: _Optional[str] = ..., title: _Optional[str] = ..., categories: _Optional[_Iterable[str]] = ..., parameters: _Optional[_Iterable[str]] = ..., unattended: _Optional[bool] = ..., threshold: _Optional[float] = ..., dry_run: _Optional[str] = ..., undo: _Optional[str] = ...) -> None: ...

class ListRunbooksRequest(_message.Message):
    __slots__ = ("tenant",)
    TENANT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    def __init__(self, tenant: _Optional[str] = ...) -> None: ...

class ListRunbooksResponse(_message.Message):
    __slots__ = ("runbooks",)
    RUNBOOKS_FIELD_NUMBER: _ClassVar[int]
    runbooks: _containers.RepeatedCompositeFieldContainer[Runbook]
    def __init__(self, runbooks: _Optional[_Iterable[_Union[Runbook, _Mapping]]] = ...) -> None: ...
