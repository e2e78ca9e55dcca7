import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TokenConvention(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOKEN_CONVENTION_UNSPECIFIED: _ClassVar[TokenConvention]
    TOKEN_CONVENTION_INPUT_EXCLUDES_CACHED: _ClassVar[TokenConvention]
    TOKEN_CONVENTION_INPUT_INCLUDES_CACHED: _ClassVar[TokenConvention]

class CostStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COST_STATUS_UNSPECIFIED: _ClassVar[CostStatus]
    COST_STATUS_PRICED: _ClassVar[CostStatus]
    COST_STATUS_CLIENT: _ClassVar[CostStatus]
    COST_STATUS_NO_MODEL: _ClassVar[CostStatus]
    COST_STATUS_UNKNOWN_MODEL: _ClassVar[CostStatus]
    COST_STATUS_NO_PRICE: _ClassVar[CostStatus]
    COST_STATUS_PRICING_UNAVAILABLE: _ClassVar[CostStatus]

class CostDimension(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COST_DIMENSION_UNSPECIFIED: _ClassVar[CostDimension]
    COST_DIMENSION_TENANT: _ClassVar[CostDimension]
    COST_DIMENSION_MODEL: _ClassVar[CostDimension]
    COST_DIMENSION_AGENT: _ClassVar[CostDimension]
    COST_DIMENSION_DAY: _ClassVar[CostDimension]
TOKEN_CONVENTION_UNSPECIFIED: TokenConvention
TOKEN_CONVENTION_INPUT_EXCLUDES_CACHED: TokenConvention
TOKEN_CONVENTION_INPUT_INCLUDES_CACHED: TokenConvention
COST_STATUS_UNSPECIFIED: CostStatus
COST_STATUS_PRICED: CostStatus
COST_STATUS_CLIENT: CostStatus
COST_STATUS_NO_MODEL: CostStatus
COST_STATUS_UNKNOWN_MODEL: CostStatus
COST_STATUS_NO_PRICE: CostStatus
COST_STATUS_PRICING_UNAVAILABLE: CostStatus
COST_DIMENSION_UNSPECIFIED: CostDimension
COST_DIMENSION_TENANT: CostDimension
COST_DIMENSION_MODEL: CostDimension
COST_DIMENSION_AGENT: CostDimension
COST_DIMENSION_DAY: CostDimension

class UsageRecord(_message.Message):
    __slots__ = ("id", "tenant_id", "event_id", "time", "session_id", "config_id", "command_id", "metric_type", "metric_name", "metric_value", "unit", "metadata", "role_name", "created_by", "event_type", "severity", "model_used", "provider", "agent_id", "agent_email", "token_convention", "input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "cost_estimate_usd", "is_batch", "is_us_only", "is_fast_mode", "is_long_context", "tool_choice", "tool_system_prompt_tokens", "tool_overhead_input_tokens", "web_search_requests", "code_exec_seconds", "computed_cost_usd", "cost_breakdown", "total_input_tokens", "cache_hit_rate", "cache_efficiency_score", "cache_cost_savings_usd", "cache_breakpoints_used", "cache_ttl_seconds", "cache_strategy", "pricing_source", "cost_status", "output_rate_per_mtok", "input_rate_per_mtok", "cache_read_rate_per_mtok", "cache_write_rate_per_mtok", "subscription_monthly_usd", "neuron_cost_usd", "neurons_used", "neuron_rate_per_1k", "model_size_class", "workspace_id", "service_name", "instance_id", "location", "trace_id", "span_id", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIG_ID_FIELD_NUMBER: _ClassVar[int]
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    METRIC_TYPE_FIELD_NUMBER: _ClassVar[int]
    METRIC_NAME_FIELD_NUMBER: _ClassVar[int]
    METRIC_VALUE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    ROLE_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    MODEL_USED_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_EMAIL_FIELD_NUMBER: _ClassVar[int]
    TOKEN_CONVENTION_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_CREATION_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_ESTIMATE_USD_FIELD_NUMBER: _ClassVar[int]
    IS_BATCH_FIELD_NUMBER: _ClassVar[int]
    IS_US_ONLY_FIELD_NUMBER: _ClassVar[int]
    IS_FAST_MODE_FIELD_NUMBER: _ClassVar[int]
    IS_LONG_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    TOOL_CHOICE_FIELD_NUMBER: _ClassVar[int]
    TOOL_SYSTEM_PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOOL_OVERHEAD_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    WEB_SEARCH_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    CODE_EXEC_SECONDS_FIELD_NUMBER: _ClassVar[int]
    COMPUTED_COST_USD_FIELD_NUMBER: _ClassVar[int]
    COST_BREAKDOWN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_RATE_FIELD_NUMBER: _ClassVar[int]
    CACHE_EFFICIENCY_SCORE_FIELD_NUMBER: _ClassVar[int]
    CACHE_COST_SAVINGS_USD_FIELD_NUMBER: _ClassVar[int]
    CACHE_BREAKPOINTS_USED_FIELD_NUMBER: _ClassVar[int]
    CACHE_TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CACHE_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    PRICING_SOURCE_FIELD_NUMBER: _ClassVar[int]
    COST_STATUS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_RATE_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    INPUT_RATE_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_RATE_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_RATE_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_MONTHLY_USD_FIELD_NUMBER: _ClassVar[int]
    NEURON_COST_USD_FIELD_NUMBER: _ClassVar[int]
    NEURONS_USED_FIELD_NUMBER: _ClassVar[int]
    NEURON_RATE_PER_1K_FIELD_NUMBER: _ClassVar[int]
    MODEL_SIZE_CLASS_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant_id: str
    event_id: str
    time: _timestamp_pb2.Timestamp
    session_id: str
    config_id: str
    command_id: str
    metric_type: str
    metric_name: str
    metric_value: float
    unit: str
    metadata: _struct_pb2.Struct
    role_name: str
    created_by: str
    event_type: str
    severity: str
    model_used: str
    provider: str
    agent_id: str
    agent_email: str
    token_convention: TokenConvention
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    cost_estimate_usd: str
    is_batch: bool
    is_us_only: bool
    is_fast_mode: bool
    is_long_context: bool
    tool_choice: str
    tool_system_prompt_tokens: int
    tool_overhead_input_tokens: int
    web_search_requests: int
    code_exec_seconds: int
    computed_cost_usd: str
    cost_breakdown: _struct_pb2.Struct
    total_input_tokens: int
    cache_hit_rate: float
    cache_efficiency_score: float
    cache_cost_savings_usd: str
    cache_breakpoints_used: int
    cache_ttl_seconds: int
    cache_strategy: str
    pricing_source: str
    cost_status: CostStatus
    output_rate_per_mtok: str
    input_rate_per_mtok: str
    cache_read_rate_per_mtok: str
    cache_write_rate_per_mtok: str
    subscription_monthly_usd: str
    neuron_cost_usd: str
    neurons_used: int
    neuron_rate_per_1k: str
    model_size_class: str
    workspace_id: str
    service_name: str
    instance_id: str
    location: str
    trace_id: str
    span_id: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., event_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., session_id: _Optional[str] = ..., config_id: _Optional[str] = ..., command_id: _Optional[str] = ..., metric_type: _Optional[str] = ..., metric_name: _Optional[str] = ..., metric_value: _Optional[float] = ..., unit: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., role_name: _Optional[str] = ..., created_by: _Optional[str] = ..., event_type: _Optional[str] = ..., severity: _Optional[str] = ..., model_used: _Optional[str] = ..., provider: _Optional[str] = ..., agent_id: _Optional[str] = ..., agent_email: _Optional[str] = ..., token_convention: _Optional[_Union[TokenConvention, str]] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cache_creation_input_tokens: _Optional[int] = ..., cache_read_input_tokens: _Optional[int] = ..., cost_estimate_usd: _Optional[str] = ..., is_batch: _Optional[bool] = ..., is_us_only: _Optional[bool] = ..., is_fast_mode: _Optional[bool] = ..., is_long_context: _Optional[bool] = ..., tool_choice: _Optional[str] = ..., tool_system_prompt_tokens: _Optional[int] = ..., tool_overhead_input_tokens: _Optional[int] = ..., web_search_requests: _Optional[int] = ..., code_exec_seconds: _Optional[int] = ..., computed_cost_usd: _Optional[str] = ..., cost_breakdown: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., total_input_tokens: _Optional[int] = ..., cache_hit_rate: _Optional[float] = ..., cache_efficiency_score: _Optional[float] = ..., cache_cost_savings_usd: _Optional[str] = ..., cache_breakpoints_used: _Optional[int] = ..., cache_ttl_seconds: _Optional[int] = ..., cache_strategy: _Optional[str] = ..., pricing_source: _Optional[str] = ..., cost_status: _Optional[_Union[CostStatus, str]] = ..., output_rate_per_mtok: _Optional[str] = ..., input_rate_per_mtok: _Optional[str] = ..., cache_read_rate_per_mtok: _Optional[str] = ..., cache_write_rate_per_mtok: _Optional[str] = ..., subscription_monthly_usd: _Optional[str] = ..., neuron_cost_usd: _Optional[str] = ..., neurons_used: _Optional[int] = ..., neuron_rate_per_1k: _Optional[str] = ..., model_size_class: _Optional[str] = ..., workspace_id: _Optional[str] = ..., service_name: _Optional[str] = ..., instance_id: _Optional[str] = ..., location: _Optional[str] = ..., trace_id: _Optional[str] = ..., span_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RecordUsageRequest(_message.Message):
    __slots__ = ("tenant_id", "record")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    record: UsageRecord
    def __init__(self, tenant_id: _Optional[str] = ..., record: _Optional[_Union[UsageRecord, _Mapping]] = ...) -> None: ...

class RecordUsageResponse(_message.Message):
    __slots__ = ("record", "duplicate")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    record: UsageRecord
    duplicate: bool
    def __init__(self, record: _Optional[_Union[UsageRecord, _Mapping]] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class RejectedRow(_message.Message):
    __slots__ = ("index", "field", "description")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    index: int
    field: str
    description: str
    def __init__(self, index: _Optional[int] = ..., field: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class RecordUsageBatchRequest(_message.Message):
    __slots__ = ("tenant_id", "records")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    records: _containers.RepeatedCompositeFieldContainer[UsageRecord]
    def __init__(self, tenant_id: _Optional[str] = ..., records: _Optional[_Iterable[_Union[UsageRecord, _Mapping]]] = ...) -> None: ...

class RecordUsageBatchResponse(_message.Message):
    __slots__ = ("accepted_count", "duplicate_count", "duplicate_indexes", "rejected")
    ACCEPTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_INDEXES_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    accepted_count: int
    duplicate_count: int
    duplicate_indexes: _containers.RepeatedScalarFieldContainer[int]
    rejected: _containers.RepeatedCompositeFieldContainer[RejectedRow]
    def __init__(self, accepted_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ..., duplicate_indexes: _Optional[_Iterable[int]] = ..., rejected: _Optional[_Iterable[_Union[RejectedRow, _Mapping]]] = ...) -> None: ...

class StreamUsageRequest(_message.Message):
    __slots__ = ("tenant_id", "records")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    records: _containers.RepeatedCompositeFieldContainer[UsageRecord]
    def __init__(self, tenant_id: _Optional[str] = ..., records: _Optional[_Iterable[_Union[UsageRecord, _Mapping]]] = ...) -> None: ...

class StreamUsageResponse(_message.Message):
    __slots__ = ("accepted_count", "duplicate_count", "duplicate_indexes", "rejected", "message_count")
    ACCEPTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_INDEXES_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    accepted_count: int
    duplicate_count: int
    duplicate_indexes: _containers.RepeatedScalarFieldContainer[int]
    rejected: _containers.RepeatedCompositeFieldContainer[RejectedRow]
    message_count: int
    def __init__(self, accepted_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ..., duplicate_indexes: _Optional[_Iterable[int]] = ..., rejected: _Optional[_Iterable[_Union[RejectedRow, _Mapping]]] = ..., message_count: _Optional[int] = ...) -> None: ...

class ListUsageRecordsRequest(_message.Message):
    __slots__ = ("tenant_id", "page_size", "page_token", "start_time", "end_time", "model_used", "agent_id", "trace_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    MODEL_USED_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    page_size: int
    page_token: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    model_used: str
    agent_id: str
    trace_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., model_used: _Optional[str] = ..., agent_id: _Optional[str] = ..., trace_id: _Optional[str] = ...) -> None: ...

class ListUsageRecordsResponse(_message.Message):
    __slots__ = ("records", "next_page_token")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[UsageRecord]
    next_page_token: str
    def __init__(self, records: _Optional[_Iterable[_Union[UsageRecord, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SummarizeCostRequest(_message.Message):
    __slots__ = ("tenant_id", "start_time", "end_time", "group_by")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    group_by: _containers.RepeatedScalarFieldContainer[CostDimension]
    def __init__(self, tenant_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., group_by: _Optional[_Iterable[_Union[CostDimension, str]]] = ...) -> None: ...

class CostGroup(_message.Message):
    __slots__ = ("tenant_id", "model_used", "agent_id", "day", "record_count", "unpriced_count", "input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "total_input_tokens", "cost_usd", "cache_cost_savings_usd")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_USED_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    UNPRICED_COUNT_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_CREATION_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    CACHE_COST_SAVINGS_USD_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    model_used: str
    agent_id: str
    day: _timestamp_pb2.Timestamp
    record_count: int
    unpriced_count: int
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    total_input_tokens: int
    cost_usd: str
    cache_cost_savings_usd: str
    def __init__(self, tenant_id: _Optional[str] = ..., model_used: _Optional[str] = ..., agent_id: _Optional[str] = ..., day: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., record_count: _Optional[int] = ..., unpriced_count: _Optional[int] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cache_creation_input_tokens: _Optional[int] = ..., cache_read_input_tokens: _Optional[int] = ..., total_input_tokens: _Optional[int] = ..., cost_usd: _Optional[str] = ..., cache_cost_savings_usd: _Optional[str] = ...) -> None: ...

class SummarizeCostResponse(_message.Message):
    __slots__ = ("groups", "total", "start_time", "end_time")
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[CostGroup]
    total: CostGroup
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, groups: _Optional[_Iterable[_Union[CostGroup, _Mapping]]] = ..., total: _Optional[_Union[CostGroup, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetCacheSavingsRequest(_message.Message):
    __slots__ = ("tenant_id", "start_time", "end_time")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, tenant_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ModelCacheSavings(_message.Message):
    __slots__ = ("model_used", "record_count", "total_input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "cache_hit_rate", "cache_cost_savings_usd")
    MODEL_USED_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_CREATION_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_RATE_FIELD_NUMBER: _ClassVar[int]
    CACHE_COST_SAVINGS_USD_FIELD_NUMBER: _ClassVar[int]
    model_used: str
    record_count: int
    total_input_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int
    cache_hit_rate: float
    cache_cost_savings_usd: str
    def __init__(self, model_used: _Optional[str] = ..., record_count: _Optional[int] = ..., total_input_tokens: _Optional[int] = ..., cache_read_input_tokens: _Optional[int] = ..., cache_creation_input_tokens: _Optional[int] = ..., cache_hit_rate: _Optional[float] = ..., cache_cost_savings_usd: _Optional[str] = ...) -> None: ...

class GetCacheSavingsResponse(_message.Message):
    __slots__ = ("models", "total", "start_time", "end_time")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelCacheSavings]
    total: ModelCacheSavings
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, models: _Optional[_Iterable[_Union[ModelCacheSavings, _Mapping]]] = ..., total: _Optional[_Union[ModelCacheSavings, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
