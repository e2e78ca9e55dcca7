import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AgentMetric(_message.Message):
    __slots__ = ("id", "tenant_id", "agent_id", "metric_type", "metric_value", "metric_unit", "cost_usd", "record_time", "context", "trace_id", "span_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    METRIC_TYPE_FIELD_NUMBER: _ClassVar[int]
    METRIC_VALUE_FIELD_NUMBER: _ClassVar[int]
    METRIC_UNIT_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    RECORD_TIME_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant_id: str
    agent_id: str
    metric_type: str
    metric_value: float
    metric_unit: str
    cost_usd: str
    record_time: _timestamp_pb2.Timestamp
    context: _struct_pb2.Struct
    trace_id: str
    span_id: str
    def __init__(self, id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., metric_type: _Optional[str] = ..., metric_value: _Optional[float] = ..., metric_unit: _Optional[str] = ..., cost_usd: _Optional[str] = ..., record_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., context: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., trace_id: _Optional[str] = ..., span_id: _Optional[str] = ...) -> None: ...

class RejectedMetric(_message.Message):
    __slots__ = ("index", "field", "description")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    index: int
    field: str
    description: str
    def __init__(self, index: _Optional[int] = ..., field: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class RecordMetricsRequest(_message.Message):
    __slots__ = ("metrics",)
    METRICS_FIELD_NUMBER: _ClassVar[int]
    metrics: _containers.RepeatedCompositeFieldContainer[AgentMetric]
    def __init__(self, metrics: _Optional[_Iterable[_Union[AgentMetric, _Mapping]]] = ...) -> None: ...

class RecordMetricsResponse(_message.Message):
    __slots__ = ("recorded_count", "rejected")
    RECORDED_COUNT_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    recorded_count: int
    rejected: _containers.RepeatedCompositeFieldContainer[RejectedMetric]
    def __init__(self, recorded_count: _Optional[int] = ..., rejected: _Optional[_Iterable[_Union[RejectedMetric, _Mapping]]] = ...) -> None: ...

class ListMetricsRequest(_message.Message):
    __slots__ = ("tenant_id", "agent_id", "metric_type", "start_time", "end_time", "page_size", "page_token")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    METRIC_TYPE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    agent_id: str
    metric_type: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, tenant_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., metric_type: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMetricsResponse(_message.Message):
    __slots__ = ("metrics", "next_page_token")
    METRICS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    metrics: _containers.RepeatedCompositeFieldContainer[AgentMetric]
    next_page_token: str
    def __init__(self, metrics: _Optional[_Iterable[_Union[AgentMetric, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetAgentStatisticsRequest(_message.Message):
    __slots__ = ("tenant_id", "agent_id", "start_time", "end_time")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    agent_id: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, tenant_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AgentStatistics(_message.Message):
    __slots__ = ("agent_id", "task_count", "success_rate", "error_rate", "average_latency_ms", "total_tokens", "total_cost_usd", "usage_record_count", "usage_tokens", "usage_cost_usd")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_COUNT_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_RATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COST_USD_FIELD_NUMBER: _ClassVar[int]
    USAGE_RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    USAGE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    USAGE_COST_USD_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    task_count: int
    success_rate: float
    error_rate: float
    average_latency_ms: float
    total_tokens: int
    total_cost_usd: str
    usage_record_count: int
    usage_tokens: int
    usage_cost_usd: str
    def __init__(self, agent_id: _Optional[str] = ..., task_count: _Optional[int] = ..., success_rate: _Optional[float] = ..., error_rate: _Optional[float] = ..., average_latency_ms: _Optional[float] = ..., total_tokens: _Optional[int] = ..., total_cost_usd: _Optional[str] = ..., usage_record_count: _Optional[int] = ..., usage_tokens: _Optional[int] = ..., usage_cost_usd: _Optional[str] = ...) -> None: ...

class GetAgentStatisticsResponse(_message.Message):
    __slots__ = ("agents", "total", "start_time", "end_time")
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[AgentStatistics]
    total: AgentStatistics
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, agents: _Optional[_Iterable[_Union[AgentStatistics, _Mapping]]] = ..., total: _Optional[_Union[AgentStatistics, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
