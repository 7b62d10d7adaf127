import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StepOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STEP_OUTCOME_UNSPECIFIED: _ClassVar[StepOutcome]
    STEP_OUTCOME_OK: _ClassVar[StepOutcome]
    STEP_OUTCOME_SKIPPED: _ClassVar[StepOutcome]
    STEP_OUTCOME_RETRY: _ClassVar[StepOutcome]
    STEP_OUTCOME_DEAD_LETTER: _ClassVar[StepOutcome]
STEP_OUTCOME_UNSPECIFIED: StepOutcome
STEP_OUTCOME_OK: StepOutcome
STEP_OUTCOME_SKIPPED: StepOutcome
STEP_OUTCOME_RETRY: StepOutcome
STEP_OUTCOME_DEAD_LETTER: StepOutcome

class GetTicketTimelineRequest(_message.Message):
    __slots__ = ("tenant", "ticket_id")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    ticket_id: str
    def __init__(self, tenant: _Optional[str] = ..., ticket_id: _Optional[str] = ...) -> None: ...

class TimelineStep(_message.Message):
    __slots__ = ("step", "attempt", "start_time", "duration", "outcome", "error", "target_state", "detail")
    STEP_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TARGET_STATE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    step: str
    attempt: int
    start_time: _timestamp_pb2.Timestamp
    duration: _duration_pb2.Duration
    outcome: StepOutcome
    error: str
    target_state: str
    detail: str
    def __init__(self, step: _Optional[str] = ..., attempt: _Optional[int] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., outcome: _Optional[_Union[StepOutcome, str]] = ..., error: _Optional[str] = ..., target_state: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class GetTicketTimelineResponse(_message.Message):
    __slots__ = ("ticket_id", "state", "steps", "error")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    state: str
    steps: _containers.RepeatedCompositeFieldContainer[TimelineStep]
    error: str
    def __init__(self, ticket_id: _Optional[str] = ..., state: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[TimelineStep, _Mapping]]] = ..., error: _Optional[str] = ...) -> None: ...
