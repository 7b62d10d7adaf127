import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SourceSystem(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SOURCE_SYSTEM_UNSPECIFIED: _ClassVar[SourceSystem]
    SOURCE_SYSTEM_AUTOTASK: _ClassVar[SourceSystem]
    SOURCE_SYSTEM_CONNECTWISE: _ClassVar[SourceSystem]
    SOURCE_SYSTEM_KASEYA_BMS: _ClassVar[SourceSystem]
    SOURCE_SYSTEM_DATTO_RMM: _ClassVar[SourceSystem]
    SOURCE_SYSTEM_GENERIC: _ClassVar[SourceSystem]

class TicketState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TICKET_STATE_UNSPECIFIED: _ClassVar[TicketState]
    TICKET_STATE_RECEIVED: _ClassVar[TicketState]
    TICKET_STATE_NORMALIZED: _ClassVar[TicketState]
    TICKET_STATE_TRIAGED: _ClassVar[TicketState]
    TICKET_STATE_ROUTED: _ClassVar[TicketState]
    TICKET_STATE_PROPOSED: _ClassVar[TicketState]
    TICKET_STATE_RESOLVED: _ClassVar[TicketState]
    TICKET_STATE_NEEDS_REVIEW: _ClassVar[TicketState]
    TICKET_STATE_FAILED: _ClassVar[TicketState]
    TICKET_STATE_DELETED: _ClassVar[TicketState]

class DecisionMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_METHOD_UNSPECIFIED: _ClassVar[DecisionMethod]
    DECISION_METHOD_LEARNED: _ClassVar[DecisionMethod]
    DECISION_METHOD_RULES: _ClassVar[DecisionMethod]
    DECISION_METHOD_SOURCE: _ClassVar[DecisionMethod]
    DECISION_METHOD_HUMAN: _ClassVar[DecisionMethod]
    DECISION_METHOD_LLM: _ClassVar[DecisionMethod]

class ProposalState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROPOSAL_STATE_UNSPECIFIED: _ClassVar[ProposalState]
    PROPOSAL_STATE_PROPOSED: _ClassVar[ProposalState]
    PROPOSAL_STATE_CONFIRMED: _ClassVar[ProposalState]
    PROPOSAL_STATE_REJECTED: _ClassVar[ProposalState]
    PROPOSAL_STATE_EXPIRED: _ClassVar[ProposalState]
    PROPOSAL_STATE_APPLIED: _ClassVar[ProposalState]
    PROPOSAL_STATE_FAILED: _ClassVar[ProposalState]
    PROPOSAL_STATE_REVERTED: _ClassVar[ProposalState]

class ProposalKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROPOSAL_KIND_UNSPECIFIED: _ClassVar[ProposalKind]
    PROPOSAL_KIND_RUNBOOK: _ClassVar[ProposalKind]
    PROPOSAL_KIND_TRIAGE: _ClassVar[ProposalKind]
SOURCE_SYSTEM_UNSPECIFIED: SourceSystem
SOURCE_SYSTEM_AUTOTASK: SourceSystem
SOURCE_SYSTEM_CONNECTWISE: SourceSystem
SOURCE_SYSTEM_KASEYA_BMS: SourceSystem
SOURCE_SYSTEM_DATTO_RMM: SourceSystem
SOURCE_SYSTEM_GENERIC: SourceSystem
TICKET_STATE_UNSPECIFIED: TicketState
TICKET_STATE_RECEIVED: TicketState
TICKET_STATE_NORMALIZED: TicketState
TICKET_STATE_TRIAGED: TicketState
TICKET_STATE_ROUTED: TicketState
TICKET_STATE_PROPOSED: TicketState
TICKET_STATE_RESOLVED: TicketState
TICKET_STATE_NEEDS_REVIEW: TicketState
TICKET_STATE_FAILED: TicketState
TICKET_STATE_DELETED: TicketState
DECISION_METHOD_UNSPECIFIED: DecisionMethod
DECISION_METHOD_LEARNED: DecisionMethod
DECISION_METHOD_RULES: DecisionMethod
DECISION_METHOD_SOURCE: DecisionMethod
DECISION_METHOD_HUMAN: DecisionMethod
DECISION_METHOD_LLM: DecisionMethod
PROPOSAL_STATE_UNSPECIFIED: ProposalState
PROPOSAL_STATE_PROPOSED: ProposalState
PROPOSAL_STATE_CONFIRMED: ProposalState
PROPOSAL_STATE_REJECTED: ProposalState
PROPOSAL_STATE_EXPIRED: ProposalState
PROPOSAL_STATE_APPLIED: ProposalState
PROPOSAL_STATE_FAILED: ProposalState
PROPOSAL_STATE_REVERTED: ProposalState
PROPOSAL_KIND_UNSPECIFIED: ProposalKind
PROPOSAL_KIND_RUNBOOK: ProposalKind
PROPOSAL_KIND_TRIAGE: ProposalKind

class Alternative(_message.Message):
    __slots__ = ("label", "probability")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    label: str
    probability: float
    def __init__(self, label: _Optional[str] = ..., probability: _Optional[float] = ...) -> None: ...

class Prediction(_message.Message):
    __slots__ = ("label", "confidence", "alternatives", "method", "needs_review")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    ALTERNATIVES_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    NEEDS_REVIEW_FIELD_NUMBER: _ClassVar[int]
    label: str
    confidence: float
    alternatives: _containers.RepeatedCompositeFieldContainer[Alternative]
    method: DecisionMethod
    needs_review: bool
    def __init__(self, label: _Optional[str] = ..., confidence: _Optional[float] = ..., alternatives: _Optional[_Iterable[_Union[Alternative, _Mapping]]] = ..., method: _Optional[_Union[DecisionMethod, str]] = ..., needs_review: _Optional[bool] = ...) -> None: ...

class SimilarTicket(_message.Message):
    __slots__ = ("ticket_id", "title", "resolution", "score", "category")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    title: str
    resolution: str
    score: float
    category: str
    def __init__(self, ticket_id: _Optional[str] = ..., title: _Optional[str] = ..., resolution: _Optional[str] = ..., score: _Optional[float] = ..., category: _Optional[str] = ...) -> None: ...

class Triage(_message.Message):
    __slots__ = ("category", "priority", "queue", "technician", "needs_review", "reasons", "model_version", "language", "similar", "decided_by", "triage_time")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_FIELD_NUMBER: _ClassVar[int]
    NEEDS_REVIEW_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    SIMILAR_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    TRIAGE_TIME_FIELD_NUMBER: _ClassVar[int]
    category: Prediction
    priority: Prediction
    queue: Prediction
    technician: Prediction
    needs_review: bool
    reasons: _containers.RepeatedScalarFieldContainer[str]
    model_version: str
    language: str
    similar: _containers.RepeatedCompositeFieldContainer[SimilarTicket]
    decided_by: str
    triage_time: _timestamp_pb2.Timestamp
    def __init__(self, category: _Optional[_Union[Prediction, _Mapping]] = ..., priority: _Optional[_Union[Prediction, _Mapping]] = ..., queue: _Optional[_Union[Prediction, _Mapping]] = ..., technician: _Optional[_Union[Prediction, _Mapping]] = ..., needs_review: _Optional[bool] = ..., reasons: _Optional[_Iterable[str]] = ..., model_version: _Optional[str] = ..., language: _Optional[str] = ..., similar: _Optional[_Iterable[_Union[SimilarTicket, _Mapping]]] = ..., decided_by: _Optional[str] = ..., triage_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Ticket(_message.Message):
    __slots__ = ("id", "tenant", "source", "external_id", "external_number", "title", "description", "company", "contact_name", "contact_email", "source_status", "source_priority", "source_queue", "source_assignee", "state", "triage", "raw_payload_id", "payload_version", "create_time", "update_time", "error", "is_trigger", "source_category")
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    COMPANY_FIELD_NUMBER: _ClassVar[int]
    CONTACT_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTACT_EMAIL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_STATUS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_PRIORITY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_QUEUE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ASSIGNEE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TRIAGE_FIELD_NUMBER: _ClassVar[int]
    RAW_PAYLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    IS_TRIGGER_FIELD_NUMBER: _ClassVar[int]
    SOURCE_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant: str
    source: SourceSystem
    external_id: str
    external_number: str
    title: str
    description: str
    company: str
    contact_name: str
    contact_email: str
    source_status: str
    source_priority: str
    source_queue: str
    source_assignee: str
    state: TicketState
    triage: Triage
    raw_payload_id: str
    payload_version: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    error: str
    is_trigger: bool
    source_category: str
    def __init__(self, id: _Optional[str] = ..., tenant: _Optional[str] = ..., source: _Optional[_Union[SourceSystem, str]] = ..., external_id: _Optional[str] = ..., external_number: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., company: _Optional[str] = ..., contact_name: _Optional[str] = ..., contact_email: _Optional[str] = ..., source_status: _Optional[str] = ..., source_priority: _Optional[str] = ..., source_queue: _Optional[str] = ..., source_assignee: _Optional[str] = ..., state: _Optional[_Union[TicketState, str]] = ..., triage: _Optional[_Union[Triage, _Mapping]] = ..., raw_payload_id: _Optional[str] = ..., payload_version: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., error: _Optional[str] = ..., is_trigger: _Optional[bool] = ..., source_category: _Optional[str] = ...) -> None: ...

class Proposal(_message.Message):
    __slots__ = ("id", "tenant", "ticket_id", "technician", "kind", "state", "runbook", "params", "confidence", "auto", "summary", "next_step", "reply_draft", "dry_run", "reasons", "auto_apply_reason", "model_version", "error", "execution_summary", "create_time", "update_time", "expire_time", "similar")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    TECHNICIAN_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RUNBOOK_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    AUTO_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    NEXT_STEP_FIELD_NUMBER: _ClassVar[int]
    REPLY_DRAFT_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    AUTO_APPLY_REASON_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    SIMILAR_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant: str
    ticket_id: str
    technician: str
    kind: ProposalKind
    state: ProposalState
    runbook: str
    params: _containers.ScalarMap[str, str]
    confidence: float
    auto: bool
    summary: str
    next_step: str
    reply_draft: str
    dry_run: str
    reasons: _containers.RepeatedScalarFieldContainer[str]
    auto_apply_reason: str
    model_version: str
    error: str
    execution_summary: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    similar: _containers.RepeatedCompositeFieldContainer[SimilarTicket]
    def __init__(self, id: _Optional[str] = ..., tenant: _Optional[str] = ..., ticket_id: _Optional[str] = ..., technician: _Optional[str] = ..., kind: _Optional[_Union[ProposalKind, str]] = ..., state: _Optional[_Union[ProposalState, str]] = ..., runbook: _Optional[str] = ..., params: _Optional[_Mapping[str, str]] = ..., confidence: _Optional[float] = ..., auto: _Optional[bool] = ..., summary: _Optional[str] = ..., next_step: _Optional[str] = ..., reply_draft: _Optional[str] = ..., dry_run: _Optional[str] = ..., reasons: _Optional[_Iterable[str]] = ..., auto_apply_reason: _Optional[str] = ..., model_version: _Optional[str] = ..., error: _Optional[str] = ..., execution_summary: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., similar: _Optional[_Iterable[_Union[SimilarTicket, _Mapping]]] = ...) -> None: ...
