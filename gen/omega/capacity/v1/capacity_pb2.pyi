import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class QueueMetrics(_message.Message):
    __slots__ = ("depth", "oldest_age", "arrival_rate")
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    OLDEST_AGE_FIELD_NUMBER: _ClassVar[int]
    ARRIVAL_RATE_FIELD_NUMBER: _ClassVar[int]
    depth: int
    oldest_age: _duration_pb2.Duration
    arrival_rate: float
    def __init__(self, depth: _Optional[int] = ..., oldest_age: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., arrival_rate: _Optional[float] = ...) -> None: ...

class TeamPolicy(_message.Message):
    __slots__ = ("team", "min_workers", "max_workers", "worker_throughput", "drain_target", "max_age", "idle_cooldown", "scale_down_window")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    MIN_WORKERS_FIELD_NUMBER: _ClassVar[int]
    MAX_WORKERS_FIELD_NUMBER: _ClassVar[int]
    WORKER_THROUGHPUT_FIELD_NUMBER: _ClassVar[int]
    DRAIN_TARGET_FIELD_NUMBER: _ClassVar[int]
    MAX_AGE_FIELD_NUMBER: _ClassVar[int]
    IDLE_COOLDOWN_FIELD_NUMBER: _ClassVar[int]
    SCALE_DOWN_WINDOW_FIELD_NUMBER: _ClassVar[int]
    team: str
    min_workers: int
    max_workers: int
    worker_throughput: float
    drain_target: _duration_pb2.Duration
    max_age: _duration_pb2.Duration
    idle_cooldown: _duration_pb2.Duration
    scale_down_window: _duration_pb2.Duration
    def __init__(self, team: _Optional[str] = ..., min_workers: _Optional[int] = ..., max_workers: _Optional[int] = ..., worker_throughput: _Optional[float] = ..., drain_target: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_age: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., idle_cooldown: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., scale_down_window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ScalingDecision(_message.Message):
    __slots__ = ("team", "current_workers", "desired_workers", "recommended_workers", "reason", "metrics", "decide_time")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    CURRENT_WORKERS_FIELD_NUMBER: _ClassVar[int]
    DESIRED_WORKERS_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDED_WORKERS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    DECIDE_TIME_FIELD_NUMBER: _ClassVar[int]
    team: str
    current_workers: int
    desired_workers: int
    recommended_workers: int
    reason: str
    metrics: QueueMetrics
    decide_time: _timestamp_pb2.Timestamp
    def __init__(self, team: _Optional[str] = ..., current_workers: _Optional[int] = ..., desired_workers: _Optional[int] = ..., recommended_workers: _Optional[int] = ..., reason: _Optional[str] = ..., metrics: _Optional[_Union[QueueMetrics, _Mapping]] = ..., decide_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReportQueueMetricsRequest(_message.Message):
    __slots__ = ("team", "metrics")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    team: str
    metrics: QueueMetrics
    def __init__(self, team: _Optional[str] = ..., metrics: _Optional[_Union[QueueMetrics, _Mapping]] = ...) -> None: ...

class ReportQueueMetricsResponse(_message.Message):
    __slots__ = ("decision",)
    DECISION_FIELD_NUMBER: _ClassVar[int]
    decision: ScalingDecision
    def __init__(self, decision: _Optional[_Union[ScalingDecision, _Mapping]] = ...) -> None: ...

class GetScalingDecisionRequest(_message.Message):
    __slots__ = ("team",)
    TEAM_FIELD_NUMBER: _ClassVar[int]
    team: str
    def __init__(self, team: _Optional[str] = ...) -> None: ...

class GetScalingDecisionResponse(_message.Message):
    __slots__ = ("decision",)
    DECISION_FIELD_NUMBER: _ClassVar[int]
    decision: ScalingDecision
    def __init__(self, decision: _Optional[_Union[ScalingDecision, _Mapping]] = ...) -> None: ...

class ListTeamsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class TeamStatus(_message.Message):
    __slots__ = ("policy", "decision")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    policy: TeamPolicy
    decision: ScalingDecision
    def __init__(self, policy: _Optional[_Union[TeamPolicy, _Mapping]] = ..., decision: _Optional[_Union[ScalingDecision, _Mapping]] = ...) -> None: ...

class ListTeamsResponse(_message.Message):
    __slots__ = ("teams", "next_page_token")
    TEAMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    teams: _containers.RepeatedCompositeFieldContainer[TeamStatus]
    next_page_token: str
    def __init__(self, teams: _Optional[_Iterable[_Union[TeamStatus, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
